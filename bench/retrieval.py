"""Retrieval at 100,000 chunks: hybrid query latency and the HNSW leg's recall against exact search.

    .venv/bin/python -m chatbot.embedded exec -- .venv/bin/python bench/retrieval.py [--chunks 100000]

The corpus is synthetic but shaped like real text: a few thousand passages are embedded by the real model, and
each stored chunk mixes two of them (text and vector alike) with a little noise, so the vectors cluster the way
real documents do. The chunks form the shared knowledge base (the large scope, searched through HNSW).
Printed: p50/p95 of the hybrid query excluding and including query embedding, and recall@10 of the HNSW leg
(ORDER BY distance through the index) against the exact nearest neighbours. Targets: p95 < 30 ms excluding
embedding, recall@10 >= 0.95. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
import uuid

import numpy as np
from common import percentile, scratch_database, synthetic_paragraph


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--bases", type=int, default=3000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    with scratch_database("bench_retrieval"):
        from django.db import connection

        from accounts.models import User
        from documents.embedding import embed_texts
        from documents.models import Document
        from documents.retrieval import RetrievalOptions, _count_cache, retrieve, search

        started = time.perf_counter()
        base_texts = [synthetic_paragraph(rng, sentences=3) for _ in range(args.bases)]
        base_vectors = np.array(embed_texts(base_texts, batch_size=64), dtype=np.float32)
        print(f"embedded {args.bases} base passages in {time.perf_counter() - started:.0f} s")

        document = Document.objects.create(owner=None, title="synthetic shared base", status="ready")
        first = nrng.integers(0, args.bases, args.chunks)
        second = nrng.integers(0, args.bases, args.chunks)
        weights = nrng.uniform(0.55, 0.9, args.chunks).astype(np.float32)[:, None]
        vectors = weights * base_vectors[first] + (1 - weights) * base_vectors[second]
        vectors += nrng.normal(0, 0.02, vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX chunks_embedding_hnsw")  # built once after loading: much faster
            buffer = io.StringIO()
            for i in range(args.chunks):
                text = (base_texts[first[i]] + " " + base_texts[second[i]])[:800].replace("\t", " ")
                vector = "[" + ",".join(f"{x:.6f}" for x in vectors[i]) + "]"
                buffer.write(
                    f"{uuid.uuid4()}\t{document.id}\t\\N\t{i}\t{text}\t\t\t0\t{len(text)}\t{len(text.split())}\t{vector}\t2026-01-01\n"
                )
            buffer.seek(0)
            with cursor.cursor.copy(
                "COPY chunks (id, document_id, owner_id, ordinal, text, chapter, section, char_start, char_end, "
                "token_count, embedding, created_at) FROM STDIN"
            ) as copy:
                while data := buffer.read(1 << 20):
                    copy.write(data)
            loaded = time.perf_counter() - started
            started = time.perf_counter()
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute(
                "CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = 16, ef_construction = 64)"
            )
            cursor.execute("VACUUM ANALYZE chunks")
        built = time.perf_counter() - started
        print(f"loaded {args.chunks} chunks in {loaded:.0f} s, built the HNSW index in {built:.0f} s")

        user = User.objects.create(email="bench@example.com")
        _count_cache.clear()
        options = RetrievalOptions(max_results=10, similarity_threshold=0.0)
        queries = []
        for _ in range(args.queries):
            words = base_texts[rng.randrange(args.bases)].split()
            start = rng.randrange(0, max(1, len(words) - 8))
            queries.append(" ".join(words[start : start + rng.randint(5, 9)]))
        embedded = [np.array(v, dtype=np.float32) for v in embed_texts(queries)]
        for query, vector in zip(queries[:5], embedded[:5], strict=True):  # warm the caches
            search(user=user, query=query, vector=vector.tolist(), options=options)

        without_embedding, with_embedding, keyword_leg = [], [], []
        for query, vector in zip(queries, embedded, strict=True):
            started = time.perf_counter()
            search(user=user, query=query, vector=vector.tolist(), options=options)
            without_embedding.append(time.perf_counter() - started)
        import retrieval_before

        before = []
        for query, vector in zip(queries, embedded, strict=True):
            started = time.perf_counter()
            retrieval_before.search(user=user, query=query, vector=vector.tolist(), options=options)
            before.append(time.perf_counter() - started)
        keyword_only = RetrievalOptions(max_results=10, similarity_threshold=0.0, legs=frozenset({"text"}))
        for query, vector in zip(queries, embedded, strict=True):
            started = time.perf_counter()
            search(user=user, query=query, vector=vector.tolist(), options=keyword_only)
            keyword_leg.append(time.perf_counter() - started)
        from documents import embedding

        embedding._cached_query.cache_clear()
        for query in queries:
            started = time.perf_counter()
            retrieve(user=user, query=query + " now", options=options)  # a new text: embedded, not cached
            with_embedding.append(time.perf_counter() - started)

        recalls = []
        from django.conf import settings

        ef_search = max(settings.RETRIEVAL_HNSW_EF_SEARCH, settings.RETRIEVAL_CANDIDATES * 2)
        with connection.cursor() as cursor:
            for vector in embedded:
                literal = "[" + ",".join(f"{x:.7f}" for x in vector) + "]"
                cursor.execute("BEGIN")
                cursor.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
                cursor.execute("SELECT id FROM chunks ORDER BY embedding <=> %s::vector LIMIT 10", [literal])
                approximate = {row[0] for row in cursor.fetchall()}
                cursor.execute("COMMIT")
                cursor.execute("SELECT id FROM chunks ORDER BY (embedding <=> %s::vector) + 0 LIMIT 10", [literal])
                exact = {row[0] for row in cursor.fetchall()}
                recalls.append(len(approximate & exact) / 10)

        def ms(values: list[float]) -> str:
            return f"p50 {statistics.median(values) * 1000:6.1f} ms   p95 {percentile(values, 95) * 1000:6.1f} ms"

        print(f"{args.queries} queries over {args.chunks} chunks (hybrid: HNSW + full text, fused; top 10):")
        print(f"  excluding query embedding  {ms(without_embedding)}")
        print(f"  including query embedding  {ms(with_embedding)}")
        print(f"  the keyword leg (BM25) alone {ms(keyword_leg)}")
        print(f"  before issue 13 (excluding embedding) {ms(before)}")
        print(f"  recall@10 of the HNSW leg vs exact search (ef_search {ef_search}): {statistics.mean(recalls):.3f}")


if __name__ == "__main__":
    main()
