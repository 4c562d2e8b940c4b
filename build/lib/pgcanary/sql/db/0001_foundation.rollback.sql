SET LOCAL search_path TO pg_catalog, pg_temp;
-- feature_flags stays: it may have been adopted from the user's database (the seed says "use
-- the existing table"), and rolling back our migration must not destroy their flags. Its
-- triggers go with the private schema. Roles stay too: on Supabase they belong to the platform.
-- The public functions of functions/flags.sql go: they need the private schema.
DROP FUNCTION IF EXISTS
    public.canary_bucket(uuid, text), public.canary_buckets(uuid[], text),
    public.evaluate_flag(text, uuid), public.is_enabled(text, uuid),
    public.should_emit_event(uuid, text), public.get_rollout_status(text),
    public.set_rollout_percentage(text, integer, text), public.kill_flag(text, text),
    public.resume_flag(text, text), public.add_to_allowlist(uuid, text),
    public.remove_from_allowlist(uuid, text), public.flag_audit_trail(text, integer);
DROP VIEW IF EXISTS public.health_security_all, public.health_security_anon_grants,
    public.health_security_exposed_definer, public.health_security_tables_without_rls,
    public.health_security_mutable_search_path, public.health_security_default_privileges;
DROP TABLE IF EXISTS public.feature_flag_audit;
DROP SCHEMA IF EXISTS pgcanary_private CASCADE;
