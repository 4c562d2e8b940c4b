SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Security health checks for the SQL Editor: each view must read zero rows. One column set
-- (check_name, object_type, object_name, detail) so a single query can UNION them all
-- (health_security_all). Scope: the schemas our objects live in (public, pgcanary_private,
-- pgcanary_migrations), extension members excluded; on Supabase this includes your own
-- objects in public, which the seed's checks (002, Security Hardening) also cover.
-- Docs: docs/health_security.md. Tests: tests/sql/health_security.test.sql.

CREATE OR REPLACE VIEW public.health_security_anon_grants
WITH (security_invoker = true) AS
SELECT 'anon_grants'::text AS check_name,
       CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END AS object_type,
       c.oid::regclass::text AS object_name,
       format('%s holds %s', r.rolname, a.privilege_type) AS detail
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r'::"char", c.relowner))) a
JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
WHERE n.nspname IN ('public', 'pgcanary_private', 'pgcanary_migrations')
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND r.rolname IN ('anon', 'authenticated')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT 'anon_grants', 'function', p.oid::regprocedure::text, format('%s can execute', r.rolname)
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
CROSS JOIN (SELECT rolname FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated')) r
WHERE n.nspname IN ('public', 'pgcanary_private', 'pgcanary_migrations')
  AND pg_catalog.has_function_privilege(r.rolname, p.oid, 'EXECUTE')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e');
COMMENT ON VIEW public.health_security_anon_grants IS
    'Must be empty: privileges of anon or authenticated on our tables, views, sequences and functions (includes the seed''s "tables with a grant to anon" check).';

CREATE OR REPLACE VIEW public.health_security_exposed_definer
WITH (security_invoker = true) AS
SELECT 'exposed_security_definer'::text AS check_name, 'function'::text AS object_type,
       p.oid::regprocedure::text AS object_name,
       format('SECURITY DEFINER executable by %s', r.rolname) AS detail
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
CROSS JOIN (SELECT rolname FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated')) r
WHERE n.nspname IN ('public', 'pgcanary_private', 'pgcanary_migrations')
  AND p.prosecdef
  AND pg_catalog.has_function_privilege(r.rolname, p.oid, 'EXECUTE');
COMMENT ON VIEW public.health_security_exposed_definer IS
    'Must be empty: SECURITY DEFINER functions that anon or authenticated can execute (the seed''s second verification query).';

CREATE OR REPLACE VIEW public.health_security_tables_without_rls
WITH (security_invoker = true) AS
SELECT 'table_without_rls'::text AS check_name, 'table'::text AS object_type,
       c.oid::regclass::text AS object_name, 'row level security is disabled'::text AS detail
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('public', 'pgcanary_private', 'pgcanary_migrations')
  AND c.relkind IN ('r', 'p')
  AND NOT c.relrowsecurity
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  -- a partition inherits its parent's policies; RLS is checked on the parent
  AND NOT c.relispartition;
COMMENT ON VIEW public.health_security_tables_without_rls IS
    'Must be empty: tables (not partitions) in our schemas with row level security disabled.';

CREATE OR REPLACE VIEW public.health_security_mutable_search_path
WITH (security_invoker = true) AS
SELECT 'mutable_search_path'::text AS check_name, 'function'::text AS object_type,
       p.oid::regprocedure::text AS object_name, 'no SET search_path clause'::text AS detail
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname IN ('public', 'pgcanary_private', 'pgcanary_migrations')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(coalesce(p.proconfig, '{}')) AS cfg WHERE cfg LIKE 'search_path=%')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e');
COMMENT ON VIEW public.health_security_mutable_search_path IS
    'Must be empty: functions in our schemas without a fixed search_path (schema poisoning).';

CREATE OR REPLACE VIEW public.health_security_default_privileges
WITH (security_invoker = true) AS
SELECT 'default_privileges'::text AS check_name,
       CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                            WHEN 'T' THEN 'types' ELSE 'schemas' END AS object_type,
       CASE WHEN d.defaclnamespace = 0 THEN '(every schema)' ELSE d.defaclnamespace::regnamespace::text END AS object_name,
       format('objects %s creates give %s %s', d.defaclrole::regrole, r.rolname, a.privilege_type) AS detail
FROM pg_catalog.pg_default_acl d
CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) a
JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
WHERE r.rolname IN ('anon', 'authenticated')
  AND (d.defaclnamespace = 0
       OR d.defaclnamespace IN (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname IN ('pgcanary_private', 'pgcanary_migrations')));
COMMENT ON VIEW public.health_security_default_privileges IS
    'Must be empty: default privileges that hand the next table, sequence or function of our private schemas (or of every schema) to anon or authenticated. Supabase''s own defaults for public are not listed: every install revokes what they grant on our objects.';

-- The triggers that audit or refuse writes to safety state (functions/audit.sql, flags.sql,
-- guardrails.sql, governance.sql, outbox.sql): the one list audit.sql sets to fire ALWAYS and
-- the view below checks.
CREATE OR REPLACE FUNCTION pgcanary_private.audit_triggers()
RETURNS TABLE (table_name text, trigger_name text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN pg_catalog.strpos(x.table_name, '.') > 0 THEN x.table_name ELSE 'public.' || x.table_name END,
           x.trigger_name
    FROM (
    SELECT * FROM (VALUES
        ('feature_flags', 'feature_flags_audit'), ('feature_flags', 'feature_flags_seed_keys_rename'),
        ('feature_flags', 'feature_flags_seed_keys_delete'), ('feature_flags', 'feature_flags_rollout_history'),
        ('opt_outs', 'opt_outs_audit'), ('opt_outs', 'opt_outs_key_guard'),
        ('outbound_messages', 'outbound_messages_audit_unknown'), ('outbound_messages', 'safety_audit'),
        ('safety_audit', 'safety_audit_append_only'), ('circuit_breakers', 'safety_audit_update')) AS v (table_name, trigger_name)
    UNION ALL
    SELECT t, g FROM unnest(ARRAY['rate_limit_rules', 'rollout_plans', 'rollout_steps', 'rollout_prerequisites', 'incidents',
                                  'outbound_methods', 'outbound_channels', 'business_event_types', 'external_handoffs',
                                  'circuit_breakers', 'feature_flag_audit', 'opt_out_audit', 'outbound_message_audit',
                                  'rollout_history', 'phone_opt_outs']) AS t,
                  unnest(ARRAY['safety_audit', 'refuse_truncate', 'safety_replica_session']) AS g
    UNION ALL
    SELECT t, g FROM unnest(ARRAY['feature_flags', 'opt_outs', 'alert_outbox']) AS t,
                  unnest(ARRAY['refuse_truncate', 'safety_replica_session']) AS g
    UNION ALL
    SELECT 'safety_audit', 'refuse_truncate'  -- no replica-session trigger: its own row would fire it again
    UNION ALL
    SELECT t, 'trail_rows' FROM unnest(ARRAY['feature_flag_audit', 'opt_out_audit', 'outbound_message_audit',
                                             'rollout_history', 'safety_audit']) AS t
    UNION ALL
    SELECT c.table_name, 'scrub_text' FROM pgcanary_private.text_columns() AS c  -- functions/pii.sql
    UNION ALL
    SELECT 'pgcanary_private.hash_keys', g FROM unnest(ARRAY['hash_keys_audit', 'hash_keys_guard', 'refuse_truncate', 'safety_replica_session']) AS g
    ) AS x (table_name, trigger_name)
$$;

CREATE OR REPLACE VIEW public.health_security_audit_triggers
WITH (security_invoker = true) AS
-- A trigger of that list disabled ('D'), replica-only ('R') or left at the default ENABLE
-- ('O': skipped by session_replication_role = replica) lets writes through unseen; a missing
-- one is the same, permanently. Owners and superusers can do all of it; this check is how it
-- shows (daily panel, via health_security_all).
SELECT 'audit_trigger_disabled'::text AS check_name, 'trigger'::text AS object_type,
       format('%s.%s', e.table_name, e.trigger_name) COLLATE "default" AS object_name,
       CASE t.tgenabled WHEN 'D' THEN 'disabled: writes pass without it (re-run pgcanary migrate)'
                        WHEN 'R' THEN 'fires only in replica sessions (re-run pgcanary migrate)'
                        ELSE 'skipped by session_replication_role = replica (re-run pgcanary migrate)' END AS detail
FROM pgcanary_private.audit_triggers() AS e
JOIN pg_catalog.pg_trigger AS t
  ON t.tgrelid = pg_catalog.to_regclass(e.table_name) AND t.tgname = e.trigger_name
WHERE t.tgenabled <> 'A'
UNION ALL
SELECT 'audit_trigger_missing', 'trigger', format('%s.%s', e.table_name, e.trigger_name) COLLATE "default",
       'missing: writes pass without it (re-run pgcanary migrate)'
FROM pgcanary_private.audit_triggers() AS e
WHERE pg_catalog.to_regclass(e.table_name) IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                  WHERE t.tgrelid = pg_catalog.to_regclass(e.table_name) AND t.tgname = e.trigger_name);
COMMENT ON VIEW public.health_security_audit_triggers IS
    'Must be empty: audit and refusal triggers of our safety tables that are disabled, replica-only or missing (issue 14: what cannot be audited is reported).';

-- The trails' id sequences and row counts (issue 14). A sequence set back (setval below the
-- highest id, or is_called reset) makes the next audited write fail with a unique violation:
-- safety state stops changing, fail closed, and this says why. Ids are not checked for gaps: a
-- rolled-back or crashed write leaves one too, so a gap check alarms on normal operation.
-- Instead each trail's row count is kept by a trigger in the writing transaction
-- (pgcanary_private.trail_rows): fewer rows than counted means rows deleted while the trigger
-- was off, more means rows added that way. SECURITY DEFINER: service_role has no privilege on
-- the sequences nor on trail_rows (db/0000, db/0014), and must not get one.
CREATE OR REPLACE FUNCTION pgcanary_private.audit_sequence_findings()
RETURNS TABLE (check_name text, object_type text, object_name text, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t        record;
    seq      text;
    last     bigint;
    top      bigint;
    held     bigint;
BEGIN
    FOR t IN SELECT v.tbl, v.col, r.row_count
               FROM (VALUES ('feature_flag_audit', 'audit_id'), ('opt_out_audit', 'audit_id'),
                            ('outbound_message_audit', 'audit_id'), ('rollout_history', 'entry_id'),
                            ('safety_audit', 'audit_id')) AS v (tbl, col)
               LEFT JOIN pgcanary_private.trail_rows AS r ON r.table_name = v.tbl LOOP
        seq := pg_get_serial_sequence('public.' || t.tbl, t.col);
        CONTINUE WHEN seq IS NULL;  -- a missing trail fails its own tests and triggers first
        last := pg_sequence_last_value(seq::regclass);
        EXECUTE format('SELECT max(%I), count(*) FROM public.%I', t.col, t.tbl) INTO top, held;
        IF top IS NOT NULL AND (last IS NULL OR last < top) THEN
            check_name := 'audit_sequence_set_back'; object_type := 'sequence'; object_name := seq;
            detail := format('at %s, below the trail''s highest id %s: audited writes fail until it is set forward (select setval(%L, %s))',
                             coalesce(last::text, 'its start'), top, seq, top);
            RETURN NEXT;
        END IF;
        IF t.row_count IS DISTINCT FROM held THEN
            check_name := 'audit_rows_unaccounted'; object_type := 'table'; object_name := 'public.' || t.tbl;
            detail := CASE WHEN t.row_count IS NULL THEN format('holds %s rows and has no count in pgcanary_private.trail_rows', held)
                           WHEN held < t.row_count THEN format('holds %s rows, %s fewer than were written through its trigger: rows deleted with the triggers off',
                                                               held, t.row_count - held)
                           ELSE format('holds %s rows, %s more than were written through its trigger: rows added with the triggers off',
                                       held, held - t.row_count) END;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE VIEW public.health_security_audit_sequences
WITH (security_invoker = true) AS
SELECT f.check_name, f.object_type, f.object_name COLLATE "default" AS object_name, f.detail
FROM pgcanary_private.audit_sequence_findings() AS f;
COMMENT ON VIEW public.health_security_audit_sequences IS
    'Must be empty: an audit trail''s id sequence set back, or a trail holding more or fewer rows than were written through its trigger (issue 14).';

CREATE OR REPLACE VIEW public.health_security_all
WITH (security_invoker = true) AS
SELECT * FROM public.health_security_anon_grants
UNION ALL SELECT * FROM public.health_security_exposed_definer
UNION ALL SELECT * FROM public.health_security_tables_without_rls
UNION ALL SELECT * FROM public.health_security_mutable_search_path
UNION ALL SELECT * FROM public.health_security_default_privileges
UNION ALL SELECT * FROM public.health_security_audit_triggers
UNION ALL SELECT * FROM public.health_security_audit_sequences;
COMMENT ON VIEW public.health_security_all IS
    'Every security finding in one list; must be empty. Open it in the SQL Editor.';

DO $$
DECLARE
    v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['health_security_anon_grants', 'health_security_exposed_definer',
                             'health_security_tables_without_rls', 'health_security_mutable_search_path',
                             'health_security_default_privileges', 'health_security_audit_triggers',
                             'health_security_audit_sequences', 'health_security_all'] LOOP
        EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC, anon, authenticated', v);
        EXECUTE format('GRANT SELECT ON public.%I TO service_role', v);
    END LOOP;
END
$$;
