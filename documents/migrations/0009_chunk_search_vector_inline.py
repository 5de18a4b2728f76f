"""A chunk's tsvector stored in its row (STORAGE MAIN: compressed, kept inline) instead of in the TOAST table.

BM25 gives each matched chunk's tsvector to ts_rank, once per word of the question; out of line, each call fetched it
from the TOAST table (an index lookup and a heap read): 1,779 fetches, 7,100 buffers and 10 of the keyword leg's
18 ms for a question matching 1,400 of 100,000 chunks (bench/retrieval.py --explain). Inline, PostgreSQL moves the
passage's text out of line first (only the few dozen candidates read it), and the tsvector only when a row would
not fit a page. Existing rows are rewritten into the new layout by VACUUM FULL, which also rebuilds the indexes:
on a large table it holds the table's lock for a while (two minutes for 100,000 chunks on a 2-core machine).
"""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False  # VACUUM cannot run in a transaction

    dependencies = [
        ("documents", "0008_chunk_search_length"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE chunks ALTER COLUMN search_vector SET STORAGE MAIN",
            "ALTER TABLE chunks ALTER COLUMN search_vector SET STORAGE EXTENDED",
        ),
        migrations.RunSQL("VACUUM FULL chunks", migrations.RunSQL.noop),
    ]
