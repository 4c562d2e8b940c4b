SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Grants for RPCs, in one place so every capability file states its API the same way.
-- Tests: tests/sql/security.test.sql (catalog-wide: it also catches a function left out).
--
-- Postgres grants EXECUTE to PUBLIC on every new function, and Supabase's default
-- privileges grant anon and authenticated too; an RPC of ours is callable by service_role only.
CREATE OR REPLACE FUNCTION pgcanary_private.expose_rpc(fns regprocedure[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn regprocedure;
BEGIN
    FOREACH fn IN ARRAY fns LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', fn);
    END LOOP;
END
$$;
COMMENT ON FUNCTION pgcanary_private.expose_rpc(regprocedure[]) IS
    'Makes functions RPCs for service_role only: revokes PUBLIC, anon and authenticated, grants service_role.';

-- The functions that write business_events run as pgcanary_writer (db/0006 says why).
-- Declared SECURITY DEFINER where they are created; this makes pgcanary_writer their owner.
-- Changing an owner requires the new owner to hold CREATE on the function's schema, except
-- for a superuser: on Supabase (postgres is not one) it is granted for the change only.
CREATE OR REPLACE FUNCTION pgcanary_private.run_as_writer(fns regprocedure[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn      regprocedure;
    nsp     regnamespace;
    granted boolean;
    bad     text;
BEGIN
    -- business_events trusts this role's rows: it must not be a role someone can use.
    -- (The migrating role is a member for the migrate transaction only, see migrate.py.)
    SELECT concat_ws(', ', CASE WHEN r.rolcanlogin THEN 'LOGIN' END, CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
                     CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END,
                     (SELECT 'members: ' || string_agg(m.member::regrole::text, ', ')
                        FROM pg_catalog.pg_auth_members AS m
                       WHERE m.roleid = r.oid AND m.member <> current_user::regrole))
      INTO bad
      FROM pg_catalog.pg_roles AS r WHERE r.rolname = 'pgcanary_writer';
    IF bad IS NULL OR bad <> '' THEN
        RAISE EXCEPTION 'role pgcanary_writer is %', coalesce('not safe to trust (' || bad || ')', 'missing')
            USING ERRCODE = 'PC003',
                  HINT = 'business_events trusts rows written as pgcanary_writer: it must be NOLOGIN, not SUPERUSER nor BYPASSRLS, with no members. ALTER ROLE / REVOKE, or run db/0006.';
    END IF;
    FOREACH fn IN ARRAY fns LOOP
        SELECT p.pronamespace INTO nsp FROM pg_catalog.pg_proc AS p WHERE p.oid = fn;
        IF NOT (SELECT p.prosecdef FROM pg_catalog.pg_proc AS p WHERE p.oid = fn) THEN
            RAISE EXCEPTION '% must be declared SECURITY DEFINER to run as pgcanary_writer', fn
                USING ERRCODE = 'PC003';
        END IF;
        IF (SELECT p.proowner FROM pg_catalog.pg_proc AS p WHERE p.oid = fn) <> 'pgcanary_writer'::regrole THEN
            granted := NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
                       AND NOT has_schema_privilege('pgcanary_writer', nsp, 'CREATE');
            IF granted THEN
                EXECUTE format('GRANT CREATE ON SCHEMA %s TO pgcanary_writer', nsp);
            END IF;
            EXECUTE format('ALTER FUNCTION %s OWNER TO pgcanary_writer', fn);
            IF granted THEN
                EXECUTE format('REVOKE CREATE ON SCHEMA %s FROM pgcanary_writer', nsp);
            END IF;
        END IF;
        -- The migrating role (Supabase's postgres, the SQL Editor's user) keeps calling them,
        -- as it could while it owned them.
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, current_user);
    END LOOP;
END
$$;
COMMENT ON FUNCTION pgcanary_private.run_as_writer(regprocedure[]) IS
    'Makes pgcanary_writer the owner of SECURITY DEFINER functions that write business_events (db/0006).';

-- pgcanary_private.excerpt lives in pii.sql: it is built on scrub_text.
