"""Hybrid retrieval over the chunks a user may read: vector (HNSW or exact) and full-text, fused by rank.

pgserver ships pgvector 0.6, whose HNSW scans return at most ef_search candidates *before* a WHERE filter, so a
user owning 1% of the table would get almost nothing from one filtered index scan. Each scope (the user's own
chunks, the shared knowledge base) is therefore searched on its own: exactly (a b-tree on owner, then distances)
while it is small, through the HNSW index with a raised ef_search when it is large.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from accounts.models import RetrievalSettings, User
from documents.embedding import embed_query

RRF_K = 60
FTS_POOL = 1000
ALL_WORDS = "plainto_tsquery('english', %(text)s)"
# The OR query is rebuilt from lexemes that are already stemmed, hence the 'simple' configuration.
ANY_WORD = "to_tsquery('simple', replace(plainto_tsquery('english', %(text)s)::text, '&', '|'))"
PREFERRED_BOOST = 1.25
_count_cache: dict[str, tuple[float, int]] = {}
COUNT_TTL_SECONDS = 30


@dataclass(frozen=True)
class Source:
    number: int
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    title: str
    chapter: str
    section: str
    text: str
    char_start: int
    char_end: int
    score: float  # the fused rank score
    similarity: float  # cosine similarity to the query
    page: int | None = None  # the page of the file it is on (PDFs)

    def as_metadata(self) -> dict:
        """What a reply stores in Message.metadata["sources"] (seed 000: chapter, section, score)."""
        return {
            "n": self.number,
            "chunk_id": str(self.chunk_id),
            "document_id": str(self.document_id),
            "title": self.title,
            "chapter": self.chapter,
            "section": self.section,
            "page": self.page,
            "score": round(self.similarity, 4),
            "rrf": round(self.score, 6),
            "char_start": self.char_start,
            "char_end": self.char_end,
            "text": self.text,
        }


@dataclass(frozen=True)
class RetrievalOptions:
    max_results: int = 5
    similarity_threshold: float = 0.25
    preferred: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    include_shared: bool = True
    enabled: bool = True
    legs: frozenset[str] = frozenset({"vector", "text"})  # one leg alone: for tests and the benchmark

    # Whether the user can read any passage at all, when known (for_user reads it fresh: a document that
    # finished ingesting a second ago counts).
    has_passages: bool | None = None

    @classmethod
    def for_user(cls, user: User) -> RetrievalOptions:
        """The user's retrieval settings (defaults if never saved) and whether there is anything to search: one
        query, written out because it runs for every reply and the ORM's compiling of it cost more than running it."""
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT s.enabled, s.max_results, s.similarity_threshold, s.preferred_sources, s.excluded_sources,
                       EXISTS (SELECT 1 FROM chunks WHERE owner_id = %(user)s),
                       EXISTS (SELECT 1 FROM chunks WHERE owner_id IS NULL)
                FROM (SELECT 1) AS one LEFT JOIN user_retrieval_settings s ON s.user_id = %(user)s
                """,
                {"user": user.pk},
            )
            *saved, own_passages, shared_passages = cursor.fetchone()
        if saved[0] is None:  # never saved: the defaults
            defaults = RetrievalSettings(user=user)
            saved = [
                defaults.enabled, defaults.max_results, defaults.similarity_threshold, defaults.preferred_sources,
                defaults.excluded_sources,
            ]  # fmt: skip
        else:  # Django has psycopg hand JSON over as text, for its fields to decode
            saved[3:] = [json.loads(value) for value in saved[3:]]
        enabled, max_results, similarity_threshold, preferred, excluded_sources = saved
        include_shared = not any(title.lower() == "shared" for title in excluded_sources)
        return cls(
            max_results=max_results,
            similarity_threshold=similarity_threshold,
            preferred=list(preferred),
            excluded=[title for title in excluded_sources if title.lower() != "shared"],
            include_shared=include_shared,
            enabled=enabled,
            has_passages=own_passages or (include_shared and shared_passages),
        )


def _has_passages(user: User, *, include_shared: bool) -> bool:
    from documents.models import Chunk

    return Chunk.objects.filter(Q(owner=user) | Q(owner__isnull=True) if include_shared else Q(owner=user)).exists()


def _scope_size(scope: str, user_id) -> int:
    """How many chunks a scope holds, remembered briefly: it only picks a strategy (exact scan or HNSW index)."""
    key = f"{scope}:{user_id}"
    cached = _count_cache.get(key)
    if cached and time.monotonic() - cached[0] < COUNT_TTL_SECONDS:
        return cached[1]
    with connection.cursor() as cursor:
        if scope == "own":
            cursor.execute("SELECT count(*) FROM chunks WHERE owner_id = %s", [user_id])
        else:
            cursor.execute("SELECT count(*) FROM chunks WHERE owner_id IS NULL")
        count = cursor.fetchone()[0]
    _count_cache[key] = (time.monotonic(), count)
    return count


def _vector_leg(scope_condition: str, exact: bool) -> str:
    # "+ 0" hides the distance from the planner's index matching: an exact scan over the b-tree-filtered rows.
    order = "(c.embedding <=> %(q)s::vector) + 0" if exact else "c.embedding <=> %(q)s::vector"
    return f"""(SELECT c.id, c.embedding <=> %(q)s::vector AS distance FROM chunks c
                WHERE {scope_condition} AND NOT (c.document_id = ANY(%(excluded_ids)s))
                ORDER BY {order} LIMIT %(k_vector)s)"""  # noqa: S608


def _excluded_document_ids(user: User, titles: list[str]) -> list[uuid.UUID]:
    if not titles:
        return []
    from documents.models import Document

    readable = Document.objects.filter(Q(owner=user) | Q(owner__isnull=True), title__in=titles)
    return list(readable.values_list("id", flat=True))


def retrieve(*, user: User, query: str, options: RetrievalOptions | None = None) -> list[Source]:
    """The best passages for a query among the user's own documents and (unless excluded) the shared base."""
    options = options or RetrievalOptions.for_user(user)
    query = " ".join(query.split())
    if not query:
        return []
    has_passages = options.has_passages
    if has_passages is None:
        has_passages = _has_passages(user, include_shared=options.include_shared)
    if not has_passages:
        return []  # nothing to search: do not even load the embedding model
    vector = embed_query(query)
    return search(user=user, query=query, vector=vector, options=options)


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
