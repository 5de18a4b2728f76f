"""Retrieval at 100,000 chunks: hybrid query latency and the HNSW leg's recall against exact search.

    .venv/bin/python -m chatbot.embedded exec -- .venv/bin/python bench/retrieval.py [--chunks 100000]

The corpus is synthetic but shaped like real text: a few thousand passages are embedded by the real model, and
each stored chunk mixes two of them (text and vector alike) with a little noise, so the vectors cluster the way
real documents do. The chunks form the shared knowledge base (the large scope, searched through HNSW).
A user also owns --own chunks (6,600: one person's documentation set, searched exactly). Printed: p50/p95 of the
hybrid query excluding and including the question's embedding, for that user (own chunks and the shared base)
and for a user without documents (the shared base alone); the same with that user's vectors stored out of line
as before migration 0006 (rewritten so, in this run, for the before/after); the question's embedding alone per
backend (ONNX, ONNX int8, sentence-transformers); and recall@10 of the HNSW leg (ORDER BY distance through the
index) against the exact nearest neighbours. Targets: p95 < 30 ms excluding embedding, embedding p50 < 10 ms,
recall@10 >= 0.95. --explain N prints the plans of N hybrid queries instead. Nothing is asserted; the load
average is printed with the figures.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
import uuid

import numpy as np
from common import load_average, percentile, scratch_database, synthetic_paragraph


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--bases", type=int, default=3000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--own", type=int, default=6600, help="chunks owned by the searching user")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed) for --reuse")
    parser.add_argument("--reuse", default="", help="a database kept by --keep: measured again, not rebuilt")
    parser.add_argument(
        "--explain", type=int, default=0, help="only print EXPLAIN (ANALYZE, BUFFERS) of this many hybrid queries"
    )
    args = parser.parse_args()
    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    with scratch_database("bench_retrieval", reuse=args.reuse, keep=args.keep):  # it names a kept one at the end
        from django.db import connection

        from accounts.models import User
        from documents.embedding import embed_texts
        from documents.models import Document
        from documents.retrieval import RetrievalOptions, _count_cache, retrieve, search

        base_texts = [synthetic_paragraph(rng, sentences=3) for _ in range(args.bases)]
        user_email, stranger_email = "bench@example.com", "no-documents@example.com"
        if args.reuse and User.objects.filter(email=user_email).exists():  # built by an earlier --keep run
            user, stranger = User.objects.get(email=user_email), User.objects.get(email=stranger_email)
            print(f"reusing {args.reuse}")
        else:
            started = time.perf_counter()
            base_vectors = np.array(embed_texts(base_texts, batch_size=64), dtype=np.float32)
            print(f"embedded {args.bases} base passages in {time.perf_counter() - started:.0f} s")

            user = User.objects.create(email=user_email)
            stranger = User.objects.create(email=stranger_email)
            shared = Document.objects.create(owner=None, title="synthetic shared base", status="ready")
            own = Document.objects.create(owner=user, title="synthetic own documents", status="ready")

            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX chunks_embedding_hnsw")  # built once after loading: much faster

                def load(document, count: int) -> None:
                    first = nrng.integers(0, args.bases, count)
                    second = nrng.integers(0, args.bases, count)
                    weights = nrng.uniform(0.55, 0.9, count).astype(np.float32)[:, None]
                    vectors = weights * base_vectors[first] + (1 - weights) * base_vectors[second]
                    vectors += nrng.normal(0, 0.02, vectors.shape).astype(np.float32)
                    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                    owner = document.owner_id or "\\N"
                    buffer = io.StringIO()
                    for i in range(count):
                        text = (base_texts[first[i]] + " " + base_texts[second[i]])[:800].replace("\t", " ")
                        vector = "[" + ",".join(f"{x:.6f}" for x in vectors[i]) + "]"
                        buffer.write(
                            f"{uuid.uuid4()}\t{document.id}\t{owner}\t{i}\t{text}\t\t\t0\t{len(text)}\t"
                            f"{len(text.split())}\t{vector}\t2026-01-01\n"
                        )
                    buffer.seek(0)
                    with cursor.cursor.copy(
                        "COPY chunks (id, document_id, owner_id, ordinal, text, chapter, section, char_start, "
                        "char_end, token_count, embedding, created_at) FROM STDIN"
                    ) as copy:
                        while data := buffer.read(1 << 20):
                            copy.write(data)

                load(shared, args.chunks)
                load(own, args.own)
                loaded = time.perf_counter() - started
                started = time.perf_counter()
                cursor.execute("SET maintenance_work_mem = '1GB'")
                cursor.execute(
                    "CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops) "
                    "WITH (m = 16, ef_construction = 64)"
                )
                cursor.execute("VACUUM ANALYZE chunks")
            built = time.perf_counter() - started
            print(
                f"loaded {args.chunks} shared and {args.own} own chunks in {loaded:.0f} s, built the HNSW index in "
                f"{built:.0f} s"
            )
        _count_cache.clear()
        options = RetrievalOptions(max_results=10, similarity_threshold=0.0)
        queries = []
        for _ in range(args.queries):
            words = base_texts[rng.randrange(args.bases)].split()
            start = rng.randrange(0, max(1, len(words) - 8))
            queries.append(" ".join(words[start : start + rng.randint(5, 9)]))
        embedded = [np.array(v, dtype=np.float32) for v in embed_texts(queries)]
        # Warm the caches with every query once, as a running server's are: a corpus kept by --keep and measured
        # later starts cold (other work evicted its pages), and its first pass then read from disk (p95 0.3-1.5 s).
        for query, vector in zip(queries, embedded, strict=True):
            search(user=user, query=query, vector=vector.tolist(), options=options)

        if args.explain:
            from django.db import connection as explained

            def explain(execute, sql, params, many, context):
                if sql.lstrip().startswith("WITH vec"):
                    context["cursor"].execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    print("\n".join(row[0] for row in context["cursor"].fetchall()), end="\n\n")
                return execute(sql, params, many, context)

            with explained.execute_wrapper(explain):
                for query, vector in zip(queries[5 : 5 + args.explain], embedded[5 : 5 + args.explain], strict=True):
                    print(f"-- {query!r}, a user with own chunks")
                    search(user=user, query=query, vector=vector.tolist(), options=options)
            return

        def timed(run) -> list[float]:
            times = []
            for query, vector in zip(queries, embedded, strict=True):
                started = time.perf_counter()
                run(query, vector.tolist())
                times.append(time.perf_counter() - started)
            return times

        load_before = load_average()
        keyword_only = RetrievalOptions(max_results=10, similarity_threshold=0.0, legs=frozenset({"text"}))
        import retrieval_before

        figures = {
            "own 6.6k exact + shared HNSW": timed(lambda q, v: search(user=user, query=q, vector=v, options=options)),
            "shared base alone (HNSW)": timed(lambda q, v: search(user=stranger, query=q, vector=v, options=options)),
            "the keyword leg (BM25) alone": timed(
                lambda q, v: search(user=user, query=q, vector=v, options=keyword_only)
            ),
            "before issue 13's retrieval": timed(
                lambda q, v: retrieval_before.search(user=user, query=q, vector=v, options=options)
            ),
        }
        from django.conf import settings

        from documents import embedding

        embedding._cached_query.cache_clear()
        with_embedding = []
        for query in queries:
            started = time.perf_counter()
            retrieve(user=user, query=query + " now", options=options)  # a new text: embedded, not cached
            with_embedding.append(time.perf_counter() - started)
        question_embedding = {}
        for backend in ("onnx", "onnx-int8", "sentence-transformers"):
            settings.EMBEDDING_BACKEND = backend
            embedding._encoders.clear()
            encoder = embedding._encoder("questions")
            encoder.encode(["warm up"])
            times = []
            for query in queries:
                started = time.perf_counter()
                encoder.encode([query])
                times.append(time.perf_counter() - started)
            question_embedding[f"{backend} ({encoder.name})"] = times
        settings.EMBEDDING_BACKEND = "onnx"
        embedding._encoders.clear()
        load_after = load_average()

        # Before migration 0006: the user's vectors out of line (pgvector's default STORAGE EXTERNAL), same run.
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE EXTERNAL")
            cursor.execute("ALTER TABLE chunks DISABLE TRIGGER chunks_stats_update")
            cursor.execute("UPDATE chunks SET embedding = embedding::text::vector WHERE owner_id = %s", [user.id])
            cursor.execute("ALTER TABLE chunks ENABLE TRIGGER chunks_stats_update")
            cursor.execute("VACUUM ANALYZE chunks")
        figures["own 6.6k exact + shared HNSW, vectors in TOAST (before 0006)"] = timed(
            lambda q, v: search(user=user, query=q, vector=v, options=options)
        )
        with connection.cursor() as cursor:  # back as migration 0006 left them, for a later --reuse
            cursor.execute("ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE PLAIN")
            cursor.execute("ALTER TABLE chunks DISABLE TRIGGER chunks_stats_update")
            cursor.execute("ALTER TABLE chunks DISABLE TRIGGER chunks_centroid_update")
            cursor.execute("UPDATE chunks SET embedding = embedding::text::vector WHERE owner_id = %s", [user.id])
            cursor.execute("ALTER TABLE chunks ENABLE TRIGGER chunks_centroid_update")
            cursor.execute("ALTER TABLE chunks ENABLE TRIGGER chunks_stats_update")
            cursor.execute("VACUUM ANALYZE chunks")

        recalls = []
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

        print(f"load average {load_before} before, {load_after} after")
        print(f"{args.queries} queries, {args.chunks} shared + {args.own} own chunks (hybrid, fused; top 10):")
        print("excluding the question's embedding:")
        for label, values in figures.items():
            print(f"  {label:<62} {ms(values)}")
        print(f"including the question's embedding (own + shared)               {ms(with_embedding)}")
        print("the question's embedding alone, by EMBEDDING_BACKEND:")
        for label, values in question_embedding.items():
            print(f"  {label:<62} {ms(values)}")
        print(f"  recall@10 of the HNSW leg vs exact search (ef_search {ef_search}): {statistics.mean(recalls):.3f}")


if __name__ == "__main__":
    main()
