"""Chunk embeddings stored inline in the table's rows (STORAGE PLAIN) instead of in its TOAST table.

pgvector's type defaults to STORAGE EXTERNAL: a chunk's row (a passage, its heading, its tsvector and a 1.5 KB
vector) is over PostgreSQL's 2 KB threshold, so the vector went out of line, and an exact scan of one user's
6,600 chunks read 40,720 buffers (six TOAST lookups a row) instead of 1,650: 168 ms against 21 ms on a loaded
machine (docs/decisions.md, "Retrieval speed"). Text, heading and tsvector stay toastable, so a row still fits.
Vectors written before are rewritten inline; the statistics trigger is off meanwhile (no word changes).
"""

from django.db import migrations

FORWARD = """
ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE PLAIN;
ALTER TABLE chunks DISABLE TRIGGER chunks_stats_update;
UPDATE chunks SET embedding = embedding::text::vector;
ALTER TABLE chunks ENABLE TRIGGER chunks_stats_update;
"""

BACKWARD = """
ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE EXTERNAL;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0005_chunk_heading"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
