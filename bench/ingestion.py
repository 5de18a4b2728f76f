"""Ingestion throughput: the whole pipeline (parse, chunk, embed, replace chunks) against the model alone.

    .venv/bin/python -m chatbot.embedded exec -- .venv/bin/python bench/ingestion.py [--documents 12]

Synthetic Markdown documents (headings and paragraphs) go through documents.services.document_ingest, as the
Celery task runs it; then the same chunk texts are embedded by the model alone. The ratio is the pipeline's
overhead. Printed, not asserted.
"""

from __future__ import annotations

import argparse
import random
import time

from common import scratch_database, synthetic_paragraph


def markdown_document(rng: random.Random, chapters: int = 4, sections: int = 4) -> str:
    parts = []
    for chapter in range(chapters):
        parts.append(f"# Chapter {chapter + 1}")
        for section in range(sections):
            parts.append(f"## Section {chapter + 1}.{section + 1}")
            parts.extend(synthetic_paragraph(rng) for _ in range(2))
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(42)
    with scratch_database("bench_ingest"):
        from django.db import connection

        from documents.embedding import embed_texts, get_model
        from documents.models import Chunk
        from documents.services import document_ingest, document_upload

        get_model()  # load once, as a worker does at its first task; not part of either figure
        embed_texts(["warm up"])
        documents = [markdown_document(rng).encode() for _ in range(args.documents)]
        ids = []
        from django.db import transaction

        with transaction.atomic():
            for index, data in enumerate(documents):
                ids.append(document_upload(owner=None, filename=f"doc-{index}.md", data=data).document.id)
            # No Celery task: the bench runs the task's function in this process instead.
            connection.run_on_commit = []

        started = time.perf_counter()
        for document_id in ids:
            document_ingest(document_id=document_id)
        pipeline_seconds = time.perf_counter() - started
        texts = list(Chunk.objects.order_by("document_id", "ordinal").values_list("text", flat=True))

        started = time.perf_counter()
        embed_texts(texts)
        model_seconds = time.perf_counter() - started

        average = sum(len(t) for t in texts) / len(texts)
        print(f"{args.documents} documents, {len(texts)} chunks of {average:.0f} characters on average")
        print(f"  whole pipeline (parse, chunk, embed, write): {len(texts) / pipeline_seconds:6.1f} chunks/s")
        print(f"  embedding model alone, same texts:           {len(texts) / model_seconds:6.1f} chunks/s")
        print(f"  pipeline overhead: {pipeline_seconds / model_seconds:.2f}x the model's time")


if __name__ == "__main__":
    main()
