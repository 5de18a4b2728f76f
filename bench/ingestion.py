"""Ingestion throughput and memory: the whole pipeline (parse, chunk, embed, replace chunks) against the model alone.

    .venv/bin/python -m chatbot.embedded exec -- .venv/bin/python bench/ingestion.py [--documents 40]
        [--backend onnx|sentence-transformers] [--reference]

Synthetic Markdown documents of varied length (headings and paragraphs) go through
documents.services.document_ingest, as the Celery task runs it; then the same chunk texts (heading path and
passage, as embedded) are embedded by the model alone, all in one call: the model's own throughput. The ratio
is the pipeline's share of it (target >= 0.9). Memory: the process's resident set after loading the model, its
peak, and how much it still grew over the second half of the documents (a leak grows there; a warm-up does not).
--reference also times sentence-transformers (torch) on the same texts. Printed, not asserted; the load average
is printed beside the figures, as the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import time

from common import load_average, scratch_database, synthetic_paragraph


def markdown_document(rng: random.Random, chapters: int = 4, sections: int = 4) -> str:
    parts = []
    for chapter in range(chapters):
        parts.append(f"# Chapter {chapter + 1}")
        for section in range(sections):
            parts.append(f"## Section {chapter + 1}.{section + 1}")
            parts.extend(synthetic_paragraph(rng, sentences=rng.randint(1, 9)) for _ in range(rng.randint(1, 3)))
    return "\n\n".join(parts)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--backend", default="", help="EMBEDDING_BACKEND for this run (default: the setting's)")
    parser.add_argument("--reference", action="store_true", help="also time sentence-transformers alone")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.backend:
        os.environ["EMBEDDING_BACKEND"] = args.backend
    rng = random.Random(42)
    with scratch_database("bench_ingest"):
        from django.db import connection, transaction

        from documents.embedding import backend_in_use, embed_array
        from documents.models import Chunk
        from documents.services import document_ingest, document_upload

        embed_array(["warm up"])  # load once, as a worker does at its first task; not part of either figure
        loaded_rss = rss_mb()
        documents = [markdown_document(rng, chapters=rng.randint(1, 6)).encode() for _ in range(args.documents)]
        with transaction.atomic():
            ids = [
                document_upload(owner=None, filename=f"doc-{index}.md", data=data, queue=False).document.id
                for index, data in enumerate(documents)
            ]

        load_before = load_average()
        # Rounds alternate the pipeline (re-ingesting replaces the chunks: idempotent) and the model alone, and the
        # best of each counts: on a shared machine, the load changes between two phases more than between rounds.
        pipeline_seconds = model_seconds = pipeline_cpu = model_cpu = float("inf")
        rss_half = 0.0
        for _ in range(args.rounds):
            # Re-ingesting a document keeps the vectors of passages it already has: none are left to keep.
            Chunk.objects.filter(document_id__in=ids).delete()
            started, cpu = time.perf_counter(), time.process_time()
            for index, document_id in enumerate(ids):
                document_ingest(document_id=document_id)
                if index == len(ids) // 2 and not rss_half:
                    rss_half = rss_mb()
            pipeline_seconds = min(pipeline_seconds, time.perf_counter() - started)
            pipeline_cpu = min(pipeline_cpu, time.process_time() - cpu)
            rss_end = rss_mb()
            rows = Chunk.objects.order_by("document_id", "ordinal").values_list("heading", "text")
            texts = [f"{heading}\n\n{text}" if heading else text for heading, text in rows]
            started, cpu = time.perf_counter(), time.process_time()
            embed_array(texts)
            model_seconds = min(model_seconds, time.perf_counter() - started)
            model_cpu = min(model_cpu, time.process_time() - cpu)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        reference = ""
        if args.reference:
            from documents.embedding import get_model

            model = get_model()
            model.encode(["warm up"])
            started = time.perf_counter()
            model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
            reference = f"{len(texts) / (time.perf_counter() - started):6.1f} chunks/s"
        connection.close()

        average = sum(len(t) for t in texts) / len(texts)
        print(f"backend {backend_in_use()}, load average {load_before} before, {load_average()} after")
        print(f"{args.documents} documents, {len(texts)} chunks of {average:.0f} characters on average")
        print(f"  whole pipeline (parse, chunk, embed, write): {len(texts) / pipeline_seconds:6.1f} chunks/s")
        print(f"  embedding model alone, same texts:           {len(texts) / model_seconds:6.1f} chunks/s")
        if reference:
            print(f"  sentence-transformers (torch) alone:         {reference}")
        print(
            f"  pipeline / model throughput: {model_seconds / pipeline_seconds:.2f} (wall clock), "
            f"{model_cpu / pipeline_cpu:.2f} (CPU time), best of {args.rounds} rounds"
        )
        print(
            f"  memory: {loaded_rss:.0f} MB with the model loaded, {rss_half:.0f} MB halfway, {rss_end:.0f} MB at "
            f"the end, peak {peak:.0f} MB"
        )


if __name__ == "__main__":
    main()
