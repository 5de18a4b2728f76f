"""Hybrid retrieval over the chunks a user may read: a vector leg and a BM25 keyword leg, fused by score.

- Vector leg: the nearest chunks by cosine distance. pgserver ships pgvector 0.6, whose HNSW scans return at most
  ef_search candidates *before* a WHERE filter, so a user owning 1% of the table would get almost nothing from one
  filtered index scan. Each scope (the user's own chunks, the shared knowledge base) is therefore searched on its
  own: exactly (a b-tree on owner, then distances) while it is small, through the HNSW index with a raised
  ef_search when it is large.
- Keyword leg: Okapi BM25 over the match set of the question's rarer words, ranked as a whole (no sample), each
  word weighed by its inverse document frequency in the scopes searched (see _keyword_leg). PostgreSQL's
  full-text ranking has no such weight; chunk_terms and chunk_scopes (migration 0004, kept by triggers) hold the
  counts.
- Fusion (_rank): the cosine similarity plus BM25 relative to the question's best keyword match, weighed by
  Tuning.vector_weight, so a confident vector hit is not overtaken by a chunk both legs found weakly (which plain
  rank fusion does), plus the question's similarity to the passage's document as a whole (its centroid, kept by
  triggers: migration 0007), so that the page about the question outranks a page that mentions it once; the
  similarity threshold (a chunk with every word of the question passes it: codes and
  names are what embeddings blur); preferred documents first; a document's further passages weighed down so
  that other documents get places.
- Project scope (issue 16): a chat inside a project searches the project's documents first. They get legs of their
  own (vector and keyword, over their chunks only), so a big library cannot crowd them out of the candidates, and
  rank ahead of the rest; the user's settings apply to them as to any passage (retrieval off, the number of
  results, the similarity threshold, excluded documents, preferred ones first within the project's).
  docs/decisions.md ("Retrieval quality") has the measurements behind each choice.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from accounts.models import RetrievalSettings, User
from documents.chunking import continuation, follows
from documents.embedding import embed_query

RRF_K = 60  # reciprocal rank fusion's constant (Tuning.fusion = "rrf"; the demo's stored scores)
BM25_K1 = 1.2
BM25_B = 0.75
SHARED_SCOPE_KEY = uuid.UUID(int=0)  # the shared base's key in chunk_terms and chunk_scopes


# Okapi BM25 of chunk c, summed over the rows of `weighted w` it matches (scopes s gives the average length), each
# row's term frequency in f.tf (TERM_FREQUENCY_OF_C, joined per row). ts_rank with unit weights for one word is
# sum(1/i^2, i = 1..tf) / (pi^2/6): the term frequency is read back from it, as PostgreSQL has no function returning
# a lexeme's count in a tsvector. OFFSET 0 keeps the planner from inlining the subquery, which would call ts_rank
# (each call fetching the chunk's tsvector from TOAST again) once per use of f.tf; the length is a stored column
# (migration 0008) for the same reason.
TERM_FREQUENCY_OF_C = """CROSS JOIN LATERAL (
    SELECT round(0.6079271 / greatest(1 - ts_rank('{1,1,1,1}', c.search_vector, w.tsq), 1e-6) - 0.5) AS tf OFFSET 0
) AS f"""
BM25_OF_C = f"""sum(w.idf * f.tf * ({BM25_K1} + 1) / (f.tf
                   + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * c.search_length / s.avgdl)))"""


def _keyword_leg(scope: str) -> str:
    """CTEs ending in `scored`: Okapi BM25 with inverse document frequencies from the scope's term statistics
    (migration 0004), over the whole match set of the question's rarer words, ranked (no sample).

    The words bring in chunks rarest first while their chunk counts add up to Tuning.keyword_budget; the commoner
    ones score the chunks found but bring in none of their own (as Lucene's CommonTermsQuery does): their weight
    is small, and their match set (a third of a documentation corpus for "use" or "file") would cost a ranking
    pass over that third for every question. When even the rarest word is over the budget, the chunks with every
    word are the match set. `scope` is a constant fragment; the values are search()'s bound parameters.
    """
    return f"""
        terms AS (  -- the question's distinct lexemes, each as a one-word query
            SELECT t.lexeme, ('''' || replace(replace(t.lexeme, '\\', '\\\\'), '''', '''''') || '''')::tsquery AS tsq
            FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS t(lexeme)
        ),
        scopes AS (
            SELECT COALESCE(sum(chunks), 0) AS n, COALESCE(sum(lexemes)::float / NULLIF(sum(chunks), 0), 1) AS avgdl
            FROM chunk_scopes WHERE owner_key = ANY(%(scope_keys)s::uuid[])
        ),
        counted AS (
            SELECT t.lexeme, t.tsq, f.df, ln(1 + (greatest(s.n, f.df) - f.df + 0.5) / (f.df + 0.5))::float AS idf,
                   sum(f.df) OVER (ORDER BY f.df, t.lexeme) AS running
            FROM terms t CROSS JOIN scopes s
            CROSS JOIN LATERAL (
                SELECT COALESCE(sum(chunks), 0) AS df FROM chunk_terms
                WHERE owner_key = ANY(%(scope_keys)s::uuid[]) AND lexeme = t.lexeme
            ) AS f
            WHERE f.df > 0
        ),
        weighted AS (  -- BM25's inverse document frequency (never negative); the rarest words select
            SELECT lexeme, tsq, idf, running <= %(keyword_budget)s AS selective FROM counted
        ),
        scored AS (
            SELECT c.id, {BM25_OF_C} AS bm25
            FROM chunks c JOIN weighted w ON c.search_vector @@ w.tsq CROSS JOIN scopes s {TERM_FREQUENCY_OF_C}
            WHERE c.search_vector @@ (
                -- Chunks with any of the selective words; when every word is common, those with all of them.
                SELECT COALESCE(string_agg(tsq::text, ' | ') FILTER (WHERE selective), string_agg(tsq::text, ' & '))
                       ::tsquery
                FROM weighted
            )
              AND {scope} AND NOT (c.document_id = ANY(%(excluded_ids)s))
            GROUP BY c.id
        )"""  # noqa: S608


@dataclass(frozen=True)
class Tuning:
    """How the legs' candidates become one ranking. TUNING is the app's; bench/rag_quality.py measures others."""

    fusion: str = "weighted"  # "weighted": by score (cosine and relative BM25); "rrf": by rank only
    vector_weight: float = 0.7  # the cosine's share of a weighted score
    same_document: float = 0.9  # a document's k-th further passage scores this**k of its own: room for others
    overfetch: int = 4  # candidates per leg: this many times max_results (at least RETRIEVAL_CANDIDATES)
    keyword_bypass: bool = True  # a chunk with every word of the question passes the similarity threshold
    keyword_budget: int = 2000  # the match set's size, counted by the words bringing chunks in (see _keyword_leg)
    document_weight: float = 0.7  # plus this times the question's similarity to the passage's document's centroid
    passage_chunks: int = 3  # a passage takes in neighbouring chunks of its section that are candidates too
    lead_weight: float = 0.4  # plus this times the question's similarity to the document's opening (its first chunk)


TUNING = Tuning()
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
    chunks: int = 1  # the passage runs over this many consecutive chunks from chunk_id on

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
            "chunks": self.chunks,
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
    # The documents of the chat's project, searched first (the owner's own only: see for_conversation).
    project_documents: tuple[uuid.UUID, ...] = ()

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

    @classmethod
    def for_conversation(cls, conversation) -> RetrievalOptions:
        """The owner's settings, plus the documents of the conversation's project (if any) to search first."""
        options = cls.for_user(conversation.user)
        if conversation.project_id is None:
            return options
        from documents.models import Document

        ids = Document.objects.filter(projects=conversation.project_id, owner_id=conversation.user_id)
        return replace(options, project_documents=tuple(ids.values_list("id", flat=True)))


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


def search(
    *, user: User, query: str, vector: list[float], options: RetrievalOptions, tuning: Tuning = TUNING
) -> list[Source]:
    """Rank the user's readable chunks for a query whose embedding is given (see the module docstring)."""
    candidates = max(settings.RETRIEVAL_CANDIDATES, options.max_results * tuning.overfetch)
    own_exact = _scope_size("own", user.id) <= settings.RETRIEVAL_EXACT_MAX_CHUNKS
    legs = [_vector_leg("c.owner_id = %(user)s", exact=own_exact)]
    uses_index = not own_exact
    if options.include_shared:
        shared_exact = _scope_size("shared", None) <= settings.RETRIEVAL_EXACT_MAX_CHUNKS
        legs.append(_vector_leg("c.owner_id IS NULL", exact=shared_exact))
        uses_index = uses_index or not shared_exact
    scope = "(c.owner_id = %(user)s" + (" OR c.owner_id IS NULL)" if options.include_shared else ")")
    # The project's documents (the owner's own: the owner condition stands) get legs of their own, exact: a
    # project holds a few documents, and a large library must not push their passages out of the candidates.
    project_legs = (
        """,
        project_vec AS (
            SELECT c.id FROM chunks c
            WHERE c.owner_id = %(user)s AND c.document_id = ANY(%(project_ids)s)
              AND NOT (c.document_id = ANY(%(excluded_ids)s))
            ORDER BY (c.embedding <=> %(q)s::vector) + 0 LIMIT %(k_vector)s
        ),
        project_txt AS (
            SELECT s.id FROM scored s JOIN chunks c ON c.id = s.id
            WHERE c.document_id = ANY(%(project_ids)s) ORDER BY s.bm25 DESC, s.id LIMIT %(k_text)s
        )"""
        if options.project_documents
        else ""
    )
    found_vec, found_txt = (
        ("SELECT id FROM vec UNION SELECT id FROM project_vec", "SELECT id FROM txt UNION SELECT id FROM project_txt")
        if options.project_documents
        else ("SELECT id FROM vec", "SELECT id FROM txt")
    )
    # Only constant fragments are formatted in; every value is a bound parameter.
    sql = f"""
        WITH vec AS (
            SELECT id FROM ({" UNION ALL ".join(legs)}) AS legs ORDER BY distance LIMIT %(k_vector)s
        ),
        {_keyword_leg(scope)},
        txt AS (
            SELECT id FROM scored ORDER BY bm25 DESC, id LIMIT %(k_text)s
        ){project_legs},
        candidates AS MATERIALIZED (  -- first the few dozen candidates, then the per-candidate work below
            SELECT c.id, c.document_id, d.title, c.chapter, c.section, c.text, c.char_start, c.char_end, c.page,
                   c.ordinal, 1 - (c.embedding <=> %(q)s::vector) AS similarity, c.search_vector, c.search_length,
                   d.title = ANY(%(preferred)s) AS preferred, d.id = ANY(%(project_ids)s) AS in_project,
                   COALESCE(1 - (d.centroid <=> %(q)s::vector), 0) AS document_similarity,
                   -- The document's opening says what it is about (a manual page's name line, an introduction).
                   COALESCE(1 - ((SELECT l.embedding FROM chunks l WHERE l.document_id = c.document_id
                                  AND l.ordinal = 0) <=> %(q)s::vector), 0) AS lead_similarity
            FROM ({found_vec} UNION {found_txt}) AS found
            JOIN chunks c ON c.id = found.id JOIN documents d ON d.id = c.document_id
        )
        SELECT c.id, c.document_id, c.title, c.chapter, c.section, c.text, c.char_start, c.char_end, c.page,
               c.ordinal, c.similarity, COALESCE(k.bm25, 0), k.words = (SELECT count(*) FROM terms), c.preferred,
               c.id IN ({found_vec}), c.id IN ({found_txt}), c.in_project, c.document_similarity, c.lead_similarity
        FROM candidates c
        -- Every candidate's BM25 (not only the keyword leg's), scored as `scored` does.
        CROSS JOIN LATERAL (
            SELECT {BM25_OF_C} AS bm25, count(*) AS words
            FROM weighted w CROSS JOIN scopes s {TERM_FREQUENCY_OF_C} WHERE c.search_vector @@ w.tsq
        ) AS k
    """  # noqa: S608
    params = {
        "q": "[" + ",".join(f"{x:.7f}" for x in vector) + "]",
        "text": query,
        "user": user.id,
        "scope_keys": [user.id, SHARED_SCOPE_KEY] if options.include_shared else [user.id],
        "k_vector": candidates if "vector" in options.legs else 0,
        "k_text": candidates if "text" in options.legs else 0,
        "preferred": options.preferred,
        "excluded_ids": _excluded_document_ids(user, options.excluded),
        "keyword_budget": tuning.keyword_budget,
        "project_ids": list(options.project_documents),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        if uses_index and "vector" in options.legs:
            # ef_search above the candidate count, or the index returns fewer neighbours than asked for.
            ef_search = max(settings.RETRIEVAL_HNSW_EF_SEARCH, candidates * 2)
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        cursor.execute(sql, params)
        rows = [_Candidate(*row) for row in cursor.fetchall()]
    return [
        Source(
            number=index + 1,
            chunk_id=row.id,
            document_id=row.document_id,
            title=row.title,
            chapter=row.chapter,
            section=row.section,
            text=row.text,
            char_start=row.char_start,
            char_end=row.char_end,
            score=score,
            similarity=row.similarity,
            page=row.page,
            chunks=row.chunks,
        )
        for index, (score, row) in enumerate(_rank(rows, options=options, tuning=tuning))
    ]


@dataclass(frozen=True)
class _Candidate:
    id: uuid.UUID
    document_id: uuid.UUID
    title: str
    chapter: str
    section: str
    text: str
    char_start: int
    char_end: int
    page: int | None
    ordinal: int
    similarity: float
    bm25: float
    all_words: bool
    preferred: bool
    in_vector: bool
    in_text: bool
    in_project: bool = False
    document_similarity: float = 0.0
    lead_similarity: float = 0.0
    chunks: int = 1  # consecutive chunks from this one on, when neighbours were joined (see _Passage)


def _rank(rows: list[_Candidate], *, options: RetrievalOptions, tuning: Tuning) -> list[tuple[float, _Candidate]]:
    """Fuse the legs' candidates, drop those under the threshold, keep the best passages of each document."""
    if not rows:
        return []
    top_bm25 = max(row.bm25 for row in rows) or 1.0
    by_similarity = sorted((row for row in rows if row.in_vector), key=lambda r: -r.similarity)
    by_bm25 = sorted((row for row in rows if row.in_text), key=lambda r: -r.bm25)
    vector_rank = {row.id: rank for rank, row in enumerate(by_similarity, 1)}
    text_rank = {row.id: rank for rank, row in enumerate(by_bm25, 1)}
    # One leg alone (tests, the benchmark) ranks by that leg's score only.
    weight = {"vector": 1.0, "text": 0.0}.get("".join(options.legs), tuning.vector_weight)
    scored = []
    for row in rows:
        if row.similarity < options.similarity_threshold and not (tuning.keyword_bypass and row.all_words):
            continue
        if tuning.fusion == "rrf":
            score = sum(1 / (RRF_K + ranks[row.id]) for ranks in (vector_rank, text_rank) if row.id in ranks)
        else:
            # Score-aware: the cosine similarity as it is, BM25 relative to this question's best keyword match.
            score = weight * row.similarity + (1 - weight) * row.bm25 / top_bm25
        # The passage's document as a whole: the page about the question over one that mentions it once.
        score += tuning.document_weight * row.document_similarity
        # And its opening: what a page says it is for ("Stash the changes in a dirty working directory away").
        score += tuning.lead_weight * row.lead_similarity
        scored.append((score, row))
    # A document's further passages count for less (same_document per passage already ahead of them), so that other
    # documents get a place; they still fill the list when nothing else is left (one document: several passages).
    scored.sort(key=lambda pair: (-pair[0], -pair[1].similarity, str(pair[1].id)))
    ahead: dict[uuid.UUID, int] = {}
    adjusted = []
    for score, row in scored:
        count = ahead.get(row.document_id, 0)
        ahead[row.document_id] = count + 1
        adjusted.append((score * tuning.same_document**count, score, row))
    # The chat's project's documents rank first (project knowledge), then preferred documents (the setting's
    # promise), then by adjusted score.
    adjusted.sort(
        key=lambda item: (
            not item[2].in_project,
            not item[2].preferred,
            -item[0],
            -item[1],
            -item[2].similarity,
            str(item[2].id),
        )
    )
    # A passage takes in its document's neighbouring chunks that are candidates too, wherever they rank: the
    # answer often runs on past a chunk's end, and a neighbour found relevant on its own is the likeliest place.
    passages: list[_Passage] = []
    for _, score, row in adjusted:
        home = next((p for p in passages if p.takes(row, limit=tuning.passage_chunks)), None)
        if home is not None:
            home.join(row)
        elif len(passages) < options.max_results:
            passages.append(_Passage(score=score, row=row))
    # One document never takes every place while another has a passage that passed: the last place is the
    # other's (a page about the question can fill the list, and still be the wrong page).
    if len(passages) > 1 and len({p.row.document_id for p in passages}) == 1:
        other = next((item for item in adjusted if item[2].document_id != passages[0].row.document_id), None)
        if other is not None:
            passages[-1] = _Passage(score=other[1], row=other[2])
    return [(p.score, p.row) for p in passages]


@dataclass
class _Passage:
    """One place in the ranking: a candidate, joined by its document's neighbouring candidates (in text order)."""

    score: float
    row: _Candidate
    first: int = -1  # the ordinals it spans
    last: int = -1

    def __post_init__(self) -> None:
        self.first = self.last = self.row.ordinal

    def takes(self, row: _Candidate, *, limit: int) -> bool:
        # Only where the text runs on (overlapping, or a line break between): the offsets say so. A passage is
        # labelled where it starts (as a chunk is), so it may run on into the next section, but an earlier chunk
        # joins only from its own section: the label must not move away from the text that earned the place.
        if row.document_id != self.row.document_id or self.last - self.first + 1 >= limit:
            return False
        here, there = (self.row.char_start, self.row.char_end), (row.char_start, row.char_end)
        if row.ordinal == self.last + 1:
            return follows(here, there)
        if row.ordinal == self.first - 1 and (row.chapter, row.section) == (self.row.chapter, self.row.section):
            return follows(there, here)
        return False

    def join(self, row: _Candidate) -> None:
        """The passage keeps its first chunk's id (the citation's link opens there) and its best chunk's similarity."""
        before, after = (row, self.row) if row.ordinal < self.first else (self.row, row)
        text = before.text + continuation(after.text, start=after.char_start, previous_end=before.char_end)
        self.row = replace(
            before, text=text, char_end=after.char_end, similarity=self.row.similarity, chunks=self.row.chunks + 1
        )
        self.first, self.last = min(self.first, row.ordinal), max(self.last, row.ordinal)
