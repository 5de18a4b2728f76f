"""A chunk's length in lexemes as a stored column, so that BM25 reads the passage's tsvector once per word.

BM25 needs each matched chunk's length (`length(search_vector)`, the number of distinct lexemes) and, per word of
the question, its term frequency (read back from `ts_rank`). The tsvector of a chunk's row is stored out of line
(the row is over PostgreSQL's 2 KB threshold), so each function given it fetched it from the TOAST table again:
three fetches per matched word, some 18,000 buffer reads for a question matching 1,200 of 100,000 chunks
(bench/retrieval.py --explain). The length is now a column generated from the same expression as search_vector
(a generated column cannot read another), and the term frequency is computed once per word (documents/retrieval.py).
Should search_vector's expression change, this one changes with it. Existing rows are filled by the rewrite that
adding a stored generated column makes (no trigger fires: no word changes).
"""

from django.db import migrations

FORWARD = r"""
ALTER TABLE chunks ADD COLUMN search_length integer GENERATED ALWAYS AS (
    length(to_tsvector('english'::regconfig, ((COALESCE(heading, ''::text) || ' '::text) || COALESCE(text, ''::text))))
) STORED;
"""

BACKWARD = "ALTER TABLE chunks DROP COLUMN search_length;"


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0007_document_centroid"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
