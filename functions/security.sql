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
