SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- pgcanary_private holds helpers and trigger functions; PostgREST does not expose it.
-- service_role may execute the helpers its RPCs call (our RPCs are SECURITY INVOKER);
-- anon, authenticated and PUBLIC get nothing.
REVOKE ALL ON SCHEMA pgcanary_private FROM PUBLIC, anon, authenticated;
GRANT USAGE ON SCHEMA pgcanary_private TO service_role;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgcanary_private FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgcanary_private TO service_role;
-- Per-schema default privileges only add to the global ones (a per-schema REVOKE cannot remove
-- PUBLIC's EXECUTE on new functions): each file revokes what it creates, and these undo any
-- per-schema default that would hand our next objects to the API roles (on Supabase those are
-- set for public only). health_security_default_privileges reports what is left.
ALTER DEFAULT PRIVILEGES IN SCHEMA pgcanary_private REVOKE ALL ON TABLES FROM PUBLIC, anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgcanary_private REVOKE ALL ON SEQUENCES FROM PUBLIC, anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgcanary_private REVOKE ALL ON FUNCTIONS FROM anon, authenticated;
-- The audit trigger is SECURITY DEFINER: nobody calls it directly, not even service_role.
REVOKE ALL ON FUNCTION pgcanary_private.feature_flags_audit() FROM service_role;
