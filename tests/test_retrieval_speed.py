"""What keeps retrieval fast at scale: chunk vectors stored in the table's rows, not in TOAST (migration 0006)."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from documents.models import Chunk
from tests.factories import DocumentFactory, UserFactory, unit_vector

pytestmark = pytest.mark.django_db

PASSAGE = "The starter is fed twice a day with equal weights of flour and water, kept at 24 degrees. " * 8


def test_an_exact_scan_of_a_users_chunks_reads_the_rows_and_not_a_toast_table():
    document = DocumentFactory(owner=UserFactory())
    # Rows shaped like real ones: a 700-character passage with a heading, so the row is over the 2 KB at which
    # PostgreSQL moves a row's largest values out of line (pgvector's vectors first, by default).
    Chunk.objects.bulk_create(
        Chunk(
            document=document,
            owner=document.owner,
            ordinal=i,
            heading="Bakery handbook › Starter",
            text=PASSAGE[: 600 + i % 100],
            char_start=0,
            char_end=700,
            embedding=unit_vector(i),
        )
        for i in range(300)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chunks")
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM chunks WHERE owner_id = %s "
            "ORDER BY (embedding <=> %s::vector) + 0 LIMIT 40",
            [document.owner_id, "[" + ",".join(map(str, unit_vector(9999))) + "]"],
        )
        plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        cursor.execute("SELECT pg_relation_size('chunks') / current_setting('block_size')::int")
        heap_pages = cursor.fetchone()[0]
    top = plan[0]["Plan"]
    buffers = top["Shared Hit Blocks"] + top["Shared Read Blocks"]
    # Inline: about one buffer per heap page (plus the b-tree on owner). Out of line, each of the 300 vectors costs
    # a TOAST index lookup and its two TOAST pages: over 1,000 buffers here.
    assert buffers <= heap_pages + 20, (buffers, heap_pages)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'"
        )
        assert cursor.fetchone()[0] == "p"
