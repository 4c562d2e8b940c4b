-- The helper every migration calls on the relations it creates, before its transaction commits.
-- Why: on Supabase, default privileges grant ALL on every new table and sequence in `public` to
-- anon and authenticated the moment it is created (DESIGN.md §4a). `pgcanary migrate` commits the
-- whole install at once, but `yoyo apply` commits migration by migration: without this, the
-- tables of a committed migration would sit open to the API until policies/ ran at the end.
SET LOCAL search_path TO pg_catalog, pg_temp;

-- yoyo keeps its bookkeeping where the connection's search_path points. In `public` those
-- tables would be open to the API, and the install would differ from `pgcanary migrate`'s.
DO $$
BEGIN
    IF pg_catalog.to_regclass('public._yoyo_migration') IS NOT NULL THEN
        RAISE EXCEPTION 'yoyo keeps its bookkeeping in public (public._yoyo_migration exists)'
            USING ERRCODE = 'PC050',
                  DETAIL = 'pgcanary keeps yoyo''s tables in the schema pgcanary_migrations, out of the API.',
                  HINT = 'Use pgcanary migrate, or add ?schema=pgcanary_migrations to the yoyo --database URL (create that schema first), and drop public._yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock if nothing else uses them.';
    END IF;
END
$$;

-- Our private schema: created here, or kept if an earlier install made it. One made by a role
-- we are not a member of is refused: its owner could plant functions our SECURITY DEFINER code
-- would resolve (pgspot PS010 is about exactly that).
DO $$
DECLARE
    owner_ oid := (SELECT n.nspowner FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'pgcanary_private');
BEGIN
    IF owner_ IS NULL THEN
        EXECUTE 'CREATE SCHEMA pgcanary_private';
    ELSIF NOT pg_catalog.pg_has_role(CURRENT_USER, owner_, 'USAGE') THEN
        RAISE EXCEPTION 'the schema pgcanary_private already exists and belongs to another role'
            USING ERRCODE = 'PC053',
                  DETAIL = 'pgcanary keeps its internal functions and tables there; a schema owned by a role the installer is not a member of cannot be trusted.',
                  HINT = 'Drop or rename that schema, or run the install as its owner.';
    END IF;
END
$$;
REVOKE ALL ON SCHEMA pgcanary_private FROM PUBLIC;

CREATE OR REPLACE FUNCTION pgcanary_private.lock_down(relations regclass[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel  regclass;
    kind "char";
    dep  regclass;
BEGIN
    FOREACH rel IN ARRAY relations LOOP
        SELECT c.relkind INTO kind FROM pg_catalog.pg_class AS c WHERE c.oid = rel;
        IF kind IN ('r', 'p') THEN
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', rel);
        END IF;
        EXECUTE format('REVOKE ALL ON %s %s FROM PUBLIC, anon, authenticated',
                       CASE kind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, rel);
        -- Serial and identity sequences, and partitions: created with the table, granted with it.
        FOR dep IN
            SELECT d.objid::regclass FROM pg_catalog.pg_depend AS d
             JOIN pg_catalog.pg_class AS s ON s.oid = d.objid AND s.relkind = 'S'
             WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refobjid = rel AND d.deptype IN ('a', 'i')
            UNION
            SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = rel
        LOOP
            PERFORM pgcanary_private.lock_down(ARRAY[dep]);
        END LOOP;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION pgcanary_private.lock_down(regclass[]) FROM PUBLIC;
COMMENT ON FUNCTION pgcanary_private.lock_down(regclass[]) IS
    'Enables RLS on tables and revokes PUBLIC, anon and authenticated on tables, views, sequences (serial and identity) and partitions. Every migration calls it on what it creates (db/0000).';

-- A table of ours that already exists in public belongs to someone else (a refused install is
-- one transaction: nothing of ours stays behind). Every migration names what it creates first.
CREATE OR REPLACE FUNCTION pgcanary_private.refuse_existing(relations text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found text := (SELECT string_agg(r, ', ' ORDER BY r) FROM unnest(relations) AS r
                    WHERE pg_catalog.to_regclass(r) IS NOT NULL);
BEGIN
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'pgcanary cannot install: % already exists and is not pgcanary''s', found
            USING ERRCODE = 'PC052',
                  DETAIL = 'The install was refused as a whole; nothing was changed.',
                  HINT = 'Rename the existing table (ALTER TABLE ... RENAME TO ..._old), install, then copy its rows into ours.';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION pgcanary_private.refuse_existing(text[]) FROM PUBLIC;
COMMENT ON FUNCTION pgcanary_private.refuse_existing(text[]) IS
    'Refuses the install (PC052) when a table a migration creates already exists: it is someone else''s (db/0000).';
