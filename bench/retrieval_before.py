"""The app's retrieval as it was before issue 13 (hybrid, plain rank fusion, a keyword pool without order).

Frozen here so that bench/rag_quality.py prints "before" and "after" from one run on one ingested corpus. Not
used by the app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction

from accounts.models import User
from documents.retrieval import RetrievalOptions, Source, _excluded_document_ids, _scope_size, _vector_leg

RRF_K = 60
FTS_POOL = 1000
ALL_WORDS = "plainto_tsquery('english', %(text)s)"
ANY_WORD = "to_tsquery('simple', replace(plainto_tsquery('english', %(text)s)::text, '&', '|'))"
PREFERRED_BOOST = 1.25


def search(*, user: User, query: str, vector: list[float], options: RetrievalOptions) -> list[Source]:
    candidates = max(settings.RETRIEVAL_CANDIDATES, options.max_results * 4)
    own_exact = _scope_size("own", user.id) <= settings.RETRIEVAL_EXACT_MAX_CHUNKS
    legs = [_vector_leg("c.owner_id = %(user)s", exact=own_exact)]
    uses_index = not own_exact
    if options.include_shared:
        shared_exact = _scope_size("shared", None) <= settings.RETRIEVAL_EXACT_MAX_CHUNKS
        legs.append(_vector_leg("c.owner_id IS NULL", exact=shared_exact))
        uses_index = uses_index or not shared_exact
    scope = "(c.owner_id = %(user)s" + (" OR c.owner_id IS NULL)" if options.include_shared else ")")
    # Only constant fragments are formatted in; every value is a bound parameter.
    sql = f"""
        WITH vec AS (
            SELECT id, distance, row_number() OVER (ORDER BY distance) AS rank
            FROM ({" UNION ALL ".join(legs)}) AS legs
            ORDER BY distance LIMIT %(k_vector)s
        ),
        fts AS (
            -- Chunks with any of the words (OR), those with all of them (AND) first: the keyword leg boosts
            -- rather than gates. Ranking is bounded to a pool (all-words matches, then the first any-word
            -- matches): a common word matching half the table must not cost a full ranking pass.
            SELECT pool.id, pool.all_match,
                   row_number() OVER (
                       ORDER BY pool.all_match DESC, ts_rank_cd(c.search_vector, {ANY_WORD}) DESC, pool.id
                   ) AS rank
            FROM (
                (SELECT c.id, true AS all_match FROM chunks c
                 WHERE c.search_vector @@ {ALL_WORDS} AND {scope}
                   AND NOT (c.document_id = ANY(%(excluded_ids)s))
                 LIMIT %(fts_pool)s)
                UNION ALL
                (SELECT c.id, false FROM chunks c
                 WHERE c.search_vector @@ {ANY_WORD} AND NOT c.search_vector @@ {ALL_WORDS}
                   AND {scope}
                   AND NOT (c.document_id = ANY(%(excluded_ids)s))
                 LIMIT %(fts_pool)s)
            ) AS pool
            JOIN chunks c ON c.id = pool.id
            ORDER BY rank LIMIT %(k_text)s
        ),
        fused AS (
            SELECT COALESCE(vec.id, fts.id) AS id,
                   COALESCE(1.0 / (%(rrf_k)s + vec.rank), 0) + COALESCE(1.0 / (%(rrf_k)s + fts.rank), 0) AS rrf,
                   -- A chunk with every word of the question passes the similarity threshold: codes and names
                   -- are what embeddings blur.
                   COALESCE(fts.all_match, false) AS keyword_match
            FROM vec FULL OUTER JOIN fts ON vec.id = fts.id
        )
        SELECT c.id, c.document_id, d.title, c.chapter, c.section, c.text, c.char_start, c.char_end,
               f.rrf * CASE WHEN d.title = ANY(%(preferred)s) THEN {PREFERRED_BOOST} ELSE 1 END AS score,
               1 - (c.embedding <=> %(q)s::vector) AS similarity, f.keyword_match, c.page
        FROM fused f JOIN chunks c ON c.id = f.id JOIN documents d ON d.id = c.document_id
        WHERE f.keyword_match OR 1 - (c.embedding <=> %(q)s::vector) >= %(threshold)s
        ORDER BY score DESC, f.keyword_match DESC, similarity DESC
        LIMIT %(n)s
    """  # noqa: S608
    params = {
        "q": "[" + ",".join(f"{x:.7f}" for x in vector) + "]",
        "text": query,
        "user": user.id,
        "k_vector": candidates if "vector" in options.legs else 0,
        "k_text": candidates if "text" in options.legs else 0,
        "fts_pool": FTS_POOL,
        "n": options.max_results,
        "rrf_k": RRF_K,
        "threshold": options.similarity_threshold,
        "preferred": options.preferred,
        "excluded_ids": _excluded_document_ids(user, options.excluded),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        if uses_index and "vector" in options.legs:
            # ef_search above the candidate count, or the index returns fewer neighbours than asked for.
            ef_search = max(settings.RETRIEVAL_HNSW_EF_SEARCH, candidates * 2)
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        Source(
            number=index + 1,
            chunk_id=row[0],
            document_id=row[1],
            title=row[2],
            chapter=row[3],
            section=row[4],
            text=row[5],
            char_start=row[6],
            char_end=row[7],
            score=float(row[8]),
            similarity=float(row[9]),
            page=row[11],
        )
        for index, row in enumerate(rows)
    ]
