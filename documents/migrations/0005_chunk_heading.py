"""Chunk.heading: the passage's heading path ("Title › Chapter › Section"), indexed for keywords with its text.

The search_vector is generated from heading and text together; a generated column's expression cannot be changed
in place, so it is dropped and added again (with its GIN index). Adding a stored generated column rewrites the
table without firing the statistics triggers of migration 0004, so chunk_terms and chunk_scopes are rebuilt
from the new vectors. Existing chunks get an empty heading until `manage.py reindex` re-chunks their document.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models

REBUILD_STATISTICS = """
TRUNCATE chunk_terms, chunk_scopes;
INSERT INTO chunk_terms (owner_key, lexeme, chunks)
SELECT COALESCE(c.owner_id, '00000000-0000-0000-0000-000000000000'::uuid), l.lexeme, count(*)
FROM chunks c CROSS JOIN unnest(tsvector_to_array(c.search_vector)) AS l(lexeme)
GROUP BY 1, 2;
INSERT INTO chunk_scopes (owner_key, chunks, lexemes)
SELECT COALESCE(owner_id, '00000000-0000-0000-0000-000000000000'::uuid), count(*), sum(length(search_vector))
FROM chunks GROUP BY 1;
"""


def search_vector(*fields: str) -> models.GeneratedField:
    return models.GeneratedField(
        db_persist=True,
        expression=django.contrib.postgres.search.SearchVector(*fields, config="english"),
        output_field=django.contrib.postgres.search.SearchVectorField(),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0004_chunk_term_stats"),
    ]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="heading",
            field=models.TextField(blank=True, default="", db_default=""),  # raw INSERTs (benchmarks) too
        ),
        migrations.RemoveIndex(model_name="chunk", name="chunks_search_gin"),
        migrations.RemoveField(model_name="chunk", name="search_vector"),
        migrations.AddField(model_name="chunk", name="search_vector", field=search_vector("heading", "text")),
        migrations.AddIndex(
            model_name="chunk",
            index=django.contrib.postgres.indexes.GinIndex(fields=["search_vector"], name="chunks_search_gin"),
        ),
        migrations.RunSQL(REBUILD_STATISTICS, REBUILD_STATISTICS),
    ]
