SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Tamper paths of safety state that leave no audit row are refused (DESIGN.md invariant 5;
-- docs/audit.md lists every path and what it leaves). Row changes are audited by each
-- capability's own trigger (feature_flag_audit, opt_out_audit, outbound_message_audit,
-- rollout_history); what no row trigger sees is refused here, for every role:
--   * TRUNCATE of safety tables and of the audit trails (row triggers do not fire on it);
--   * renaming or deleting the seed flags, whose keys are a contract of the code that reads
--     them (moving pausar_julia away and back would un-pause without a trail);
--   * changing opt_outs.cliente_id (the opt-out would silently move to another client).
-- A rename of any other flag is audited as what it is: the old key's row ends (DELETE) and
-- the new key's begins (INSERT), both with the rename as reason (functions/flags.sql).
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC060 truncate refused   PC061 seed flag key is a contract   PC062 opt-out key change
--   PC063 safety_audit is append-only

CREATE OR REPLACE FUNCTION pgcanary_private.refuse_truncate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of %.% is refused: it would change safety state without an audit row', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'PC060',
              DETAIL = 'Row triggers do not fire on TRUNCATE, so nothing would record who removed what.',
              HINT = 'DELETE the rows you mean (each one is audited), or use the RPC for the change (docs/audit.md).';
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['feature_flags', 'feature_flag_audit', 'opt_outs', 'opt_out_audit', 'rate_limit_rules',
                             'rollout_plans', 'rollout_steps', 'rollout_prerequisites', 'rollout_history', 'incidents',
                             'outbound_methods', 'outbound_channels', 'outbound_message_audit', 'alert_outbox',
                             'business_event_types', 'external_handoffs', 'circuit_breakers', 'safety_audit',
                             'phone_opt_outs'] LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER refuse_truncate BEFORE TRUNCATE ON public.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION pgcanary_private.refuse_truncate()', t);
    END LOOP;
END
$$;
-- Without its key the rate limit fails closed; TRUNCATE would still leave no row saying who.
CREATE OR REPLACE TRIGGER refuse_truncate BEFORE TRUNCATE ON pgcanary_private.hash_keys
    FOR EACH STATEMENT EXECUTE FUNCTION pgcanary_private.refuse_truncate();

-- pgcanary_private.is_seed_flag(flag_key) is in functions/flags.sql (stale_flags reads it too).

CREATE OR REPLACE FUNCTION pgcanary_private.refuse_seed_flag_key_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'flag "%" is read by name: it cannot be %', OLD.flag_key,
                    CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'renamed' END
        USING ERRCODE = 'PC061',
              DETAIL = 'The guardrail, the events gate and the rollout plans look this key up; without it they fail closed or stop obeying it.',
              HINT = 'Change its value instead (kill_flag, resume_flag, pausar_julia, toggle_campanhas...): every change is audited.';
END
$$;

CREATE OR REPLACE TRIGGER feature_flags_seed_keys_rename
    BEFORE UPDATE OF flag_key ON public.feature_flags
    FOR EACH ROW WHEN (pgcanary_private.is_seed_flag(OLD.flag_key) AND NEW.flag_key IS DISTINCT FROM OLD.flag_key)
    EXECUTE FUNCTION pgcanary_private.refuse_seed_flag_key_change();
CREATE OR REPLACE TRIGGER feature_flags_seed_keys_delete
    BEFORE DELETE ON public.feature_flags
    FOR EACH ROW WHEN (pgcanary_private.is_seed_flag(OLD.flag_key))
    EXECUTE FUNCTION pgcanary_private.refuse_seed_flag_key_change();

CREATE OR REPLACE FUNCTION pgcanary_private.refuse_opt_out_key_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'opt_outs.cliente_id cannot be changed'
        USING ERRCODE = 'PC062',
              DETAIL = 'It would move an opt-out from one client to another without an opt_out_audit row for either.',
              HINT = 'Use opt_in(cliente_id, source) for the one and opt_out(cliente_id, source) for the other: both are audited.';
END
$$;

CREATE OR REPLACE TRIGGER opt_outs_key_guard
    BEFORE UPDATE OF cliente_id ON public.opt_outs
    FOR EACH ROW WHEN (NEW.cliente_id IS DISTINCT FROM OLD.cliente_id)
    EXECUTE FUNCTION pgcanary_private.refuse_opt_out_key_change();

------------------------------------------------------------------------------------------
-- The trail of the safety tables without one of their own (db/0013_safety_audit.sql). The
-- old and new rows are stored whole, except an outbox payload (invariant 6: it holds the
-- phone and the text; its sha256 is what identifies it). A no-op UPDATE writes nothing.
-- SECURITY DEFINER: service_role writes these tables through its RPCs but has no privilege
-- on the trail.
CREATE OR REPLACE FUNCTION pgcanary_private.safety_audit_row()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_j jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'payload' END;
    new_j jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - 'payload' END;
BEGIN
    IF TG_OP = 'UPDATE' AND old_j = new_j THEN
        RETURN NULL;
    END IF;
    INSERT INTO public.safety_audit (table_name, operation, old_row, new_row, actor, reason)
    VALUES (TG_TABLE_NAME, TG_OP, old_j, new_j, pgcanary_private.current_actor(),
            coalesce(pgcanary_private.current_reason(), ''));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION pgcanary_private.refuse_trail_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: its rows cannot be %', TG_TABLE_SCHEMA, TG_TABLE_NAME,
                    CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'changed' END
        USING ERRCODE = 'PC063',
              DETAIL = 'It is the trail of every other safety change; a row that can be edited proves nothing.',
              HINT = 'Nothing to do: the trail is small and kept whole (docs/audit.md, "Retention").';
END
$$;

CREATE OR REPLACE TRIGGER safety_audit_append_only
    BEFORE UPDATE OR DELETE ON public.safety_audit
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.refuse_trail_change();

DO $$
DECLARE
    t text;
BEGIN
    -- Config and governance state: every row change.
    FOREACH t IN ARRAY ARRAY['rate_limit_rules', 'rollout_plans', 'rollout_steps', 'rollout_prerequisites', 'incidents',
                             'outbound_methods', 'outbound_channels', 'business_event_types', 'external_handoffs',
                             'phone_opt_outs'] LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER safety_audit AFTER INSERT OR UPDATE OR DELETE ON public.%I '
                       'FOR EACH ROW EXECUTE FUNCTION pgcanary_private.safety_audit_row()', t);
    END LOOP;
    -- The other trails: only the owner may edit them (no grant), and each edit is recorded.
    FOREACH t IN ARRAY ARRAY['feature_flag_audit', 'opt_out_audit', 'outbound_message_audit', 'rollout_history'] LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER safety_audit AFTER UPDATE OR DELETE ON public.%I '
                       'FOR EACH ROW EXECUTE FUNCTION pgcanary_private.safety_audit_row()', t);
    END LOOP;
END
$$;
-- A breaker's counters move on every send; its state and its settings are what a raw UPDATE
-- would use to let traffic through, so only those changes are recorded.
CREATE OR REPLACE TRIGGER safety_audit
    AFTER INSERT OR DELETE ON public.circuit_breakers
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.safety_audit_row();
CREATE OR REPLACE TRIGGER safety_audit_update
    AFTER UPDATE ON public.circuit_breakers
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.failure_threshold IS DISTINCT FROM NEW.failure_threshold
                       OR OLD.open_seconds IS DISTINCT FROM NEW.open_seconds OR OLD.open_until IS DISTINCT FROM NEW.open_until)
    EXECUTE FUNCTION pgcanary_private.safety_audit_row();
-- An outbox row deleted by hand is a dedupe key freed for a second send.
CREATE OR REPLACE TRIGGER safety_audit
    AFTER DELETE ON public.outbound_messages
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.safety_audit_row();

-- Each trail's expected row count (db/0014), moved in the writing transaction so a rollback
-- moves it back: health_security_audit_sequences compares it with count(*). One row per
-- trail is updated by every write to it, so writers of one trail queue on it until commit;
-- the trails are written by operator actions and opt-outs, not by sends.
CREATE OR REPLACE FUNCTION pgcanary_private.count_trail_row()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE pgcanary_private.trail_rows AS r
       SET row_count = r.row_count + CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END
     WHERE r.table_name = TG_TABLE_NAME;
    RETURN NULL;
END
$$;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['feature_flag_audit', 'opt_out_audit', 'outbound_message_audit', 'rollout_history', 'safety_audit'] LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER trail_rows AFTER INSERT OR DELETE ON public.%I '
                       'FOR EACH ROW EXECUTE FUNCTION pgcanary_private.count_trail_row()', t);
    END LOOP;
END
$$;

-- A new rate-limit key starts every phone's count from zero (the hashes change), so a
-- rotation is a safety change like any other. The trail keeps a fingerprint of the key (the
-- first 12 hex digits of its sha256), never the key or its pads.
CREATE OR REPLACE FUNCTION pgcanary_private.hash_keys_audit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_j jsonb := CASE WHEN TG_OP <> 'INSERT'
                        THEN jsonb_build_object('key_name', OLD.key_name, 'created_at', OLD.created_at,
                                                'fingerprint', left(encode(sha256(OLD.secret), 'hex'), 12)) END;
    new_j jsonb := CASE WHEN TG_OP <> 'DELETE'
                        THEN jsonb_build_object('key_name', NEW.key_name, 'created_at', NEW.created_at,
                                                'fingerprint', left(encode(sha256(NEW.secret), 'hex'), 12)) END;
BEGIN
    IF TG_OP = 'UPDATE' AND old_j = new_j AND OLD.inner_pad = NEW.inner_pad AND OLD.outer_pad = NEW.outer_pad THEN
        RETURN NULL;
    END IF;
    INSERT INTO public.safety_audit (table_name, operation, old_row, new_row, actor, reason)
    VALUES ('hash_keys', TG_OP, old_j, new_j, pgcanary_private.current_actor(),
            coalesce(pgcanary_private.current_reason(), ''));
    RETURN NULL;
END
$$;
-- Phone opt-outs are keyed by this key's hashes (db/0015): a new key would lift every one of
-- them without a trace, so the key cannot change or go while one is in force.
CREATE OR REPLACE FUNCTION pgcanary_private.hash_keys_guard()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.key_name = 'rate_limit' AND (TG_OP = 'DELETE' OR OLD.secret IS DISTINCT FROM NEW.secret
                                        OR OLD.inner_pad IS DISTINCT FROM NEW.inner_pad OR OLD.outer_pad IS DISTINCT FROM NEW.outer_pad)
       AND EXISTS (SELECT 1 FROM public.phone_opt_outs AS p WHERE p.opted_out) THEN
        RAISE EXCEPTION 'the rate-limit key cannot be rotated or removed while phones are opted out'
            USING ERRCODE = 'PC065',
                  DETAIL = 'phone_opt_outs is keyed by this key''s hashes: a new key would lift every phone opt-out.',
                  HINT = 'Keep the key. Client opt-outs (opt_outs) do not depend on it; phone opt-outs do (docs/phone.md).';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE OR REPLACE TRIGGER hash_keys_guard
    BEFORE UPDATE OR DELETE ON pgcanary_private.hash_keys
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.hash_keys_guard();
CREATE OR REPLACE TRIGGER hash_keys_audit
    AFTER INSERT OR UPDATE OR DELETE ON pgcanary_private.hash_keys
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.hash_keys_audit();

-- session_replication_role = replica (superuser, or a role granted it) skips every trigger
-- left at the default ENABLE. Ours fire ALWAYS: a replica session changes nothing about what
-- is audited or refused, and each of its statements on a safety table leaves a
-- REPLICA_SESSION row. CREATE OR REPLACE TRIGGER resets a trigger to ENABLE, so this runs
-- last, after every file that creates one (MANIFEST order); health_security_audit_triggers
-- reports any that is not ALWAYS. pgcanary's tables are not meant to be logical-replication
-- targets: on a subscriber these triggers would audit the replicated rows a second time.
CREATE OR REPLACE FUNCTION pgcanary_private.safety_replica_session()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO public.safety_audit (table_name, operation, actor, reason)
    VALUES (TG_TABLE_NAME, 'REPLICA_SESSION', pgcanary_private.current_actor(),
            format('%s with session_replication_role = replica', TG_OP));
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_trigger AS g JOIN pg_catalog.pg_class AS c ON c.oid = g.tgrelid
              WHERE g.tgname = 'refuse_truncate' AND NOT g.tgisinternal AND c.oid <> 'public.safety_audit'::regclass LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER safety_replica_session AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                       'FOR EACH STATEMENT WHEN (pg_catalog.current_setting(''session_replication_role'') = ''replica'') '
                       'EXECUTE FUNCTION pgcanary_private.safety_replica_session()', t.rel);
    END LOOP;
    FOR t IN SELECT g.tgrelid::regclass AS rel, g.tgname
               FROM pgcanary_private.audit_triggers() AS e
               JOIN pg_catalog.pg_trigger AS g
                 ON g.tgrelid = pg_catalog.to_regclass(e.table_name) AND g.tgname = e.trigger_name
              WHERE g.tgenabled <> 'A' LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', t.rel, t.tgname);
    END LOOP;
END
$$;
