SET LOCAL search_path TO pg_catalog, pg_temp;
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tgrelid::regclass AS rel, tgname FROM pg_catalog.pg_trigger
             WHERE tgname = 'safety_replica_session' LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
    END LOOP;
END
$$;
-- Rows of the wider kind cannot stay under the narrow CHECK; the trail is append-only, so the
-- rollback keeps them and leaves the CHECK wide rather than delete audit history.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tgrelid::regclass AS rel, tgname FROM pg_catalog.pg_trigger WHERE tgname = 'trail_rows' LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
    END LOOP;
END
$$;
DROP TABLE IF EXISTS pgcanary_private.trail_rows;
