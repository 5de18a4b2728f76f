"""A document's centroid: the mean of its chunks' embeddings, for retrieval to weigh what a whole page is about.

Retrieval adds Tuning.document_weight times the question's cosine similarity to the passage's document's centroid
to the passage's score: on Git's documentation (bench/rag_quality.py, tune half) hit@5 0.86 -> 0.92 and MRR@10
0.70 -> 0.76, as a question about renaming a branch is closer to the whole of git-branch than to any of the other
pages whose one passage happens to say "rename" (docs/decisions.md, "Retrieval quality").

`documents.centroid` is written only by statement-level triggers on `chunks` (insert, delete, update), as the term
statistics of migration 0004 are: every writer of chunks (ingestion, re-indexing, the demo data, a test's factory)
keeps it right without knowing about it. It is left out of the Django model so that listing documents does not
load a vector per row; only retrieval's SQL reads it. A document without chunks has none (NULL: no boost).
"""

from django.db import migrations

FORWARD = r"""
ALTER TABLE documents ADD COLUMN centroid vector;

CREATE FUNCTION document_centroid_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A transition table exists only for its event: each branch names only its own.
    IF TG_OP = 'INSERT' THEN
        UPDATE documents d SET centroid = (SELECT avg(c.embedding) FROM chunks c WHERE c.document_id = d.id)
        WHERE d.id IN (SELECT DISTINCT document_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE documents d SET centroid = (SELECT avg(c.embedding) FROM chunks c WHERE c.document_id = d.id)
        WHERE d.id IN (SELECT DISTINCT document_id FROM old_rows);
    ELSE
        UPDATE documents d SET centroid = (SELECT avg(c.embedding) FROM chunks c WHERE c.document_id = d.id)
        WHERE d.id IN (SELECT document_id FROM old_rows UNION SELECT document_id FROM new_rows);
    END IF;
    RETURN NULL;
END
$$;

-- One trigger per event (a trigger with transition tables may have only one); a TRUNCATE of chunks comes with
-- documents' own (chunks reference documents), or leaves centroids that the next ingestion replaces.
CREATE TRIGGER chunks_centroid_insert AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION document_centroid_apply();
CREATE TRIGGER chunks_centroid_delete AFTER DELETE ON chunks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION document_centroid_apply();
CREATE TRIGGER chunks_centroid_update AFTER UPDATE ON chunks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION document_centroid_apply();

-- Documents ingested before this migration.
UPDATE documents d SET centroid = (SELECT avg(c.embedding) FROM chunks c WHERE c.document_id = d.id);
"""

BACKWARD = """
DROP TRIGGER chunks_centroid_insert ON chunks;
DROP TRIGGER chunks_centroid_delete ON chunks;
DROP TRIGGER chunks_centroid_update ON chunks;
DROP FUNCTION document_centroid_apply();
ALTER TABLE documents DROP COLUMN centroid;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0006_chunk_embedding_inline"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
