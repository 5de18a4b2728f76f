"""Term statistics for the keyword leg of retrieval: how many chunks of each scope hold each lexeme.

BM25 weighs a query word by its inverse document frequency, which PostgreSQL's full-text search does not keep.
Two tables, written only by triggers on `chunks`, keep it per scope (a user's own chunks, or the shared base under
the nil UUID, so that the key is never NULL and stays indexable):

- chunk_terms (owner_key, lexeme, chunks): in how many of the scope's chunks the lexeme occurs;
- chunk_scopes (owner_key, chunks, lexemes): the scope's chunk count and its chunks' summed length in lexemes.

Statement-level triggers with transition tables add and subtract whole statements at once (an ingestion's
bulk insert, a document's cascaded delete). Writers of one scope are serialised by a transaction-level advisory
lock, taken before any statistics row, so two ingestions of the same owner wait for each other instead of
deadlocking on rows locked in different orders. A TRUNCATE of chunks empties both tables.
Per scope, never global: another user's documents must not shape (or be inferable from) anyone's ranking.
"""

from django.db import migrations

FORWARD = r"""
CREATE TABLE chunk_terms (
    owner_key uuid NOT NULL,
    lexeme text NOT NULL,
    chunks integer NOT NULL,
    PRIMARY KEY (owner_key, lexeme)
);
CREATE TABLE chunk_scopes (
    owner_key uuid PRIMARY KEY,
    chunks bigint NOT NULL,
    lexemes bigint NOT NULL
);

CREATE FUNCTION chunk_stats_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    nil CONSTANT uuid := '00000000-0000-0000-0000-000000000000';
    keys uuid[];
    key uuid;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE chunk_terms, chunk_scopes;
        RETURN NULL;
    END IF;
    -- A transition table exists only for its event: each branch names only its own.
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT COALESCE(owner_id, nil)) INTO keys FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT COALESCE(owner_id, nil)) INTO keys FROM old_rows;
    ELSE
        SELECT array_agg(DISTINCT k) INTO keys FROM (
            SELECT COALESCE(owner_id, nil) AS k FROM old_rows UNION SELECT COALESCE(owner_id, nil) FROM new_rows
        ) AS touched;
    END IF;
    IF keys IS NULL THEN
        RETURN NULL;  -- the statement changed no row
    END IF;
    -- One writer per scope at a time, scopes in a fixed order: no deadlock between ingestions of one owner.
    FOREACH key IN ARRAY keys LOOP  -- array_agg(DISTINCT ...) is sorted
        PERFORM pg_advisory_xact_lock(1313, hashtext(key::text));
    END LOOP;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        WITH gone AS (
            SELECT COALESCE(o.owner_id, nil) AS owner_key, l.lexeme,
                   count(*) AS n
            FROM old_rows o CROSS JOIN unnest(tsvector_to_array(o.search_vector)) AS l(lexeme)
            GROUP BY 1, 2
        )
        UPDATE chunk_terms s SET chunks = s.chunks - gone.n
        FROM gone WHERE s.owner_key = gone.owner_key AND s.lexeme = gone.lexeme;
        DELETE FROM chunk_terms s
        USING (SELECT DISTINCT COALESCE(owner_id, nil) AS owner_key
               FROM old_rows) AS scopes
        WHERE s.owner_key = scopes.owner_key AND s.chunks <= 0;
        UPDATE chunk_scopes s SET chunks = s.chunks - gone.n, lexemes = s.lexemes - gone.total
        FROM (
            SELECT COALESCE(owner_id, nil) AS owner_key, count(*) AS n,
                   sum(length(search_vector)) AS total
            FROM old_rows GROUP BY 1
        ) AS gone
        WHERE s.owner_key = gone.owner_key;
        DELETE FROM chunk_scopes WHERE chunks <= 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO chunk_terms AS s (owner_key, lexeme, chunks)
        SELECT COALESCE(n.owner_id, nil), l.lexeme, count(*)
        FROM new_rows n CROSS JOIN unnest(tsvector_to_array(n.search_vector)) AS l(lexeme)
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (owner_key, lexeme) DO UPDATE SET chunks = s.chunks + EXCLUDED.chunks;
        INSERT INTO chunk_scopes AS s (owner_key, chunks, lexemes)
        SELECT COALESCE(owner_id, nil), count(*),
               sum(length(search_vector))
        FROM new_rows GROUP BY 1 ORDER BY 1
        ON CONFLICT (owner_key) DO UPDATE
            SET chunks = s.chunks + EXCLUDED.chunks, lexemes = s.lexemes + EXCLUDED.lexemes;
    END IF;
    RETURN NULL;
END
$$;

-- A trigger with transition tables may have only one event: one trigger per event, one function for all.
CREATE TRIGGER chunks_stats_insert AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chunk_stats_apply();
CREATE TRIGGER chunks_stats_delete AFTER DELETE ON chunks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION chunk_stats_apply();
CREATE TRIGGER chunks_stats_update AFTER UPDATE ON chunks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chunk_stats_apply();
CREATE TRIGGER chunks_stats_truncate AFTER TRUNCATE ON chunks
    FOR EACH STATEMENT EXECUTE FUNCTION chunk_stats_apply();

-- Chunks ingested before this migration.
INSERT INTO chunk_terms (owner_key, lexeme, chunks)
SELECT COALESCE(c.owner_id, '00000000-0000-0000-0000-000000000000'::uuid), l.lexeme, count(*)
FROM chunks c CROSS JOIN unnest(tsvector_to_array(c.search_vector)) AS l(lexeme)
GROUP BY 1, 2;
INSERT INTO chunk_scopes (owner_key, chunks, lexemes)
SELECT COALESCE(owner_id, '00000000-0000-0000-0000-000000000000'::uuid), count(*), sum(length(search_vector))
FROM chunks GROUP BY 1;
"""

BACKWARD = """
DROP TRIGGER chunks_stats_insert ON chunks;
DROP TRIGGER chunks_stats_delete ON chunks;
DROP TRIGGER chunks_stats_update ON chunks;
DROP TRIGGER chunks_stats_truncate ON chunks;
DROP FUNCTION chunk_stats_apply();
DROP TABLE chunk_terms;
DROP TABLE chunk_scopes;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0003_chunk_page"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
