SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Feature flags: write-time validation, audit, canary bucketing, evaluation, allowlist and
-- control RPCs. Docs: docs/flags.md. Tests: tests/sql/flags.test.sql.
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC001 invalid flag value      PC002 flag not found      PC003 invalid argument

------------------------------------------------------------------------------------------
-- Who is acting. PostgREST sets request.jwt.claims; our CLI and the SQL Editor may set
-- pgcanary.actor; otherwise the database role.
CREATE OR REPLACE FUNCTION pgcanary_private.current_actor()
RETURNS text
LANGUAGE plpgsql STABLE  -- not PARALLEL SAFE: its EXCEPTION block is a subtransaction (DESIGN.md §6)
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    raw    text := nullif(current_setting('request.jwt.claims', true), '');
    claims jsonb;
BEGIN
    IF raw IS NOT NULL THEN
        BEGIN
            claims := raw::jsonb;
        EXCEPTION WHEN invalid_text_representation THEN
            claims := NULL;  -- unreadable claims must not block an audited write
        END;
    END IF;
    RETURN coalesce(
        nullif(claims ->> 'email', ''),
        nullif(claims ->> 'sub', ''),
        nullif(current_setting('pgcanary.actor', true), ''),
        nullif(claims ->> 'role', ''),
        current_user::text);
END
$$;
COMMENT ON FUNCTION pgcanary_private.current_actor() IS
    'Actor for audit rows: JWT email or sub, else the pgcanary.actor setting, else the JWT role, else current_user.';

-- A reason for the current change, set by the RPCs (transaction-local) or by an operator
-- in the SQL Editor with: SET pgcanary.reason = '...'.
CREATE OR REPLACE FUNCTION pgcanary_private.current_reason()
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT nullif(current_setting('pgcanary.reason', true), '') $$;

------------------------------------------------------------------------------------------
-- Bucketing. Byte-compatible with the seeds' Python:
--   int(hashlib.md5(cliente_id.encode()).hexdigest()[:8], 16) % 100
-- i.e. the first 4 bytes of md5 as an unsigned big-endian integer, mod 100. bit(32)::bigint
-- reads the 32 bits unsigned. With a salt the hashed text is salt || ':' || cliente_id.
-- The same expression appears in canary_bucket, canary_buckets, evaluate_flag and is_enabled:
-- a nested call per row costs more than the hash itself (bench/README.md has the figures).
-- tests/vectors/buckets.json pins all three to the seed's formula.
CREATE OR REPLACE FUNCTION public.canary_bucket(cliente_id uuid, salt text DEFAULT NULL)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (('x' || substr(md5(coalesce(salt || ':', '') || cliente_id::text), 1, 8))::bit(32)::bigint % 100)::integer
$$;
COMMENT ON FUNCTION public.canary_bucket(uuid, text) IS
    'Canary bucket 0..99 of a client: first 4 bytes of md5(lowercase uuid text) mod 100, as the seeds'' Python computes it. NULL id gives NULL.';

CREATE OR REPLACE FUNCTION public.canary_buckets(cliente_ids uuid[], salt text DEFAULT NULL)
RETURNS TABLE (cliente_id uuid, bucket integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id,
           (('x' || substr(md5(coalesce(salt || ':', '') || u.id::text), 1, 8))::bit(32)::bigint % 100)::integer
    FROM unnest(cliente_ids) AS u(id)
$$;
COMMENT ON FUNCTION public.canary_buckets(uuid[], text) IS
    'Batch form of canary_bucket: one row per id, in input order.';

------------------------------------------------------------------------------------------
-- Evaluation. The stored value is parsed once, when it is written, into the generated
-- columns eval_kind, eval_on, eval_pct, eval_force_on, eval_salt (db/0017_flag_state.sql,
-- pgcanary_private.flag_state: the one definition of how a value reads). evaluate_flag is
-- the decision procedure over those columns; is_enabled is its boolean outcome in one
-- statement, written out again because a nested plpgsql call with its own SET search_path
-- costs more than the whole decision (bench/README.md). tests/sql/flags.test.sql checks that
-- both agree on every reason branch for 1,000 clients.
--
-- Both never raise: nothing they do can fail on any stored value (flag_state turned every
-- bad value into 'invalid' at write time), so there is no EXCEPTION block and no
-- subtransaction per call. STABLE: a change of feature_flags is seen by the next statement,
-- so the kill switch acts on the next call (there is no cache to wait for).
--
-- Rules, in order: no row -> FLAG_NOT_FOUND; a boolean value -> STATIC / DISABLED; invalid
-- (not an object, bad percentage, non-boolean "enabled"...) -> PARSE_ERROR; "enabled" not
-- true -> DISABLED; NULL client -> TARGETING_KEY_MISSING; client in force_on ->
-- TARGETING_MATCH; percentage 100 -> STATIC; else SPLIT on bucket < percentage. A value
-- without a percentage is an on/off flag ({"enabled": true} is on for everyone), unless it
-- has force_on, in which case only the allowlist is on.
CREATE OR REPLACE FUNCTION public.evaluate_flag(flag_key text, cliente_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind       text;
    configured boolean := false;  -- the flag's own "enabled", whatever the client
    enabled    boolean := false;
    force_on   text[];
    salt       text;
    reason     text;
    error_code text;
    bucket     integer;
    percentage integer;
BEGIN
    SELECT f.eval_kind, f.eval_on, f.eval_pct, f.eval_force_on, f.eval_salt
      INTO kind, configured, percentage, force_on, salt
      FROM public.feature_flags AS f WHERE f.flag_key = evaluate_flag.flag_key;
    IF kind IS NULL THEN
        reason := 'ERROR'; error_code := 'FLAG_NOT_FOUND'; configured := false;
    ELSIF kind = 'boolean' THEN
        enabled := configured;
        reason := CASE WHEN enabled THEN 'STATIC' ELSE 'DISABLED' END;
    ELSIF kind = 'invalid' THEN
        reason := 'ERROR'; error_code := 'PARSE_ERROR'; configured := false;
    ELSIF NOT configured THEN
        reason := 'DISABLED';
    ELSIF evaluate_flag.cliente_id IS NULL THEN
        reason := 'ERROR'; error_code := 'TARGETING_KEY_MISSING';
    ELSIF evaluate_flag.cliente_id::text = ANY (force_on) THEN
        enabled := true; reason := 'TARGETING_MATCH';
    ELSIF percentage >= 100 THEN
        enabled := true; reason := 'STATIC';
    ELSE
        bucket := (('x' || substr(md5(coalesce(salt || ':', '') || evaluate_flag.cliente_id::text), 1, 8))::bit(32)::bigint % 100)::integer;
        enabled := bucket < percentage;
        reason := 'SPLIT';
    END IF;
    RETURN jsonb_build_object(
        'flag_key', evaluate_flag.flag_key, 'enabled', enabled, 'reason', reason,
        'error_code', error_code, 'bucket', bucket, 'percentage', percentage,
        -- The seed's phase names; a flag that is off is "disabled" whatever its percentage
        -- (a killed flag keeps its percentage for resume_flag).
        'phase', CASE WHEN NOT configured OR coalesce(percentage, 0) <= 0 THEN 'disabled'
                      WHEN percentage <= 5  THEN 'canary_2pct'
                      WHEN percentage <= 15 THEN 'canary_10pct'
                      WHEN percentage <= 60 THEN 'canary_50pct'
                      ELSE 'full_rollout' END);
END
$$;
COMMENT ON FUNCTION public.evaluate_flag(text, uuid) IS
    'Evaluates a flag for a client: {flag_key, enabled, reason, error_code, bucket, percentage, phase}. Reasons: DISABLED, TARGETING_MATCH (force_on), SPLIT, STATIC, ERROR (FLAG_NOT_FOUND, PARSE_ERROR, TARGETING_KEY_MISSING). Never raises.';

CREATE OR REPLACE FUNCTION public.is_enabled(flag_key text, cliente_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN coalesce((
        SELECT CASE WHEN f.eval_kind = 'boolean' THEN f.eval_on
                    WHEN f.eval_kind <> 'object' OR NOT f.eval_on OR is_enabled.cliente_id IS NULL THEN false
                    WHEN is_enabled.cliente_id::text = ANY (f.eval_force_on) THEN true
                    ELSE (('x' || substr(md5(coalesce(f.eval_salt || ':', '') || is_enabled.cliente_id::text), 1, 8))::bit(32)::bigint % 100)
                         < f.eval_pct END
          FROM public.feature_flags AS f WHERE f.flag_key = is_enabled.flag_key), false);
END
$$;
COMMENT ON FUNCTION public.is_enabled(text, uuid) IS
    'Hot path: true when the flag is on for this client. Same decision as evaluate_flag''s "enabled"; never raises (false for a missing or invalid flag).';

-- The seed's should_emit_event: the business_events_enabled master switch (seed 8.4's
-- emergency UPDATE sets it to false) and then the business_events_canary rollout. The
-- master is on only when it reads true or {"enabled": true}; a missing row counts as on.
-- event_type is part of the seed's signature; every type shares one cohort today.
CREATE OR REPLACE FUNCTION public.should_emit_event(cliente_id uuid, event_type text)
RETURNS boolean
LANGUAGE plpgsql STABLE  -- not PARALLEL SAFE: its EXCEPTION block is a subtransaction (DESIGN.md §6)
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    master jsonb;
BEGIN
    SELECT f.value INTO master FROM public.feature_flags AS f WHERE f.flag_key = 'business_events_enabled';
    IF master IS NOT NULL AND master <> 'true'::jsonb AND (master -> 'enabled') IS DISTINCT FROM 'true'::jsonb THEN
        RETURN false;
    END IF;
    RETURN public.is_enabled('business_events_canary', should_emit_event.cliente_id);
EXCEPTION WHEN OTHERS THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION public.should_emit_event(uuid, text) IS
    'Seed 8.1: should a backend business event for this client be emitted? Master switch business_events_enabled, then the business_events_canary rollout. Never raises.';

------------------------------------------------------------------------------------------
-- Write-time validation. A value is canary-shaped when it is an object with any of the
-- canary keys, or when the flag is a known canary flag (business_events_canary,
-- external_handoff, or any *_canary key). Other flags may hold any JSON, as the seed's
-- procedure writes them ('2', 'false', {"enabled": false}).
CREATE OR REPLACE FUNCTION pgcanary_private.validate_flag_value(flag_key text, value jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    example constant text := 'A canary value looks like {"enabled": true, "percentage": 10, "force_on": ["<uuid>"]}';
    known   boolean := flag_key IN ('business_events_canary', 'external_handoff') OR flag_key LIKE '%\_canary';
    pct_key text;
    pct     jsonb;
    ids     jsonb := '[]'::jsonb;
    item    jsonb;
    id      uuid;
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION 'flag "%": value must not be null', pgcanary_private.excerpt(flag_key)
            USING ERRCODE = 'PC001', HINT = 'Write a JSON value, for example ''false'' or ''{"enabled": false}''.';
    END IF;
    IF NOT (known OR (jsonb_typeof(value) = 'object' AND value ?| ARRAY['percentage', 'canary_pct', 'force_on', 'salt'])) THEN
        RETURN value;
    END IF;
    IF jsonb_typeof(value) <> 'object' THEN
        RAISE EXCEPTION 'flag "%" is a canary flag: its value must be a JSON object, got %', pgcanary_private.excerpt(flag_key), pgcanary_private.excerpt(value::text)
            USING ERRCODE = 'PC001', HINT = example;
    END IF;
    IF jsonb_typeof(value -> 'enabled') IS DISTINCT FROM 'boolean' THEN
        RAISE EXCEPTION 'flag "%": "enabled" must be true or false, got %', pgcanary_private.excerpt(flag_key), coalesce(pgcanary_private.excerpt((value -> 'enabled')::text), 'nothing')
            USING ERRCODE = 'PC001', HINT = example;
    END IF;
    IF value ? 'percentage' AND value ? 'canary_pct' THEN
        RAISE EXCEPTION 'flag "%": give "percentage" or "canary_pct", not both', pgcanary_private.excerpt(flag_key)
            USING ERRCODE = 'PC001', HINT = '"canary_pct" is the handoff flag''s name for "percentage"; keep one.';
    END IF;
    pct_key := CASE WHEN value ? 'canary_pct' THEN 'canary_pct' ELSE 'percentage' END;
    pct := value -> pct_key;
    IF pct IS NOT NULL AND NOT (jsonb_typeof(pct) = 'number' AND pct::text::numeric BETWEEN 0 AND 100
                                AND pct::text::numeric = trunc(pct::text::numeric)) THEN
        RAISE EXCEPTION 'flag "%": "%" must be an integer from 0 to 100, got %', pgcanary_private.excerpt(flag_key), pct_key, pgcanary_private.excerpt(pct::text)
            USING ERRCODE = 'PC001', HINT = 'Use a whole number of percent, for example 2, 10, 50 or 100.';
    END IF;
    IF value ? 'force_on' THEN
        IF jsonb_typeof(value -> 'force_on') <> 'array' THEN
            RAISE EXCEPTION 'flag "%": "force_on" must be an array of client UUIDs, got %', pgcanary_private.excerpt(flag_key), pgcanary_private.excerpt((value -> 'force_on')::text)
                USING ERRCODE = 'PC001', HINT = 'For example "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"]; use add_to_allowlist() to add one.';
        END IF;
        FOR item IN SELECT e FROM jsonb_array_elements(value -> 'force_on') AS e LOOP
            BEGIN
                IF jsonb_typeof(item) <> 'string' THEN RAISE invalid_text_representation; END IF;
                id := (item #>> '{}')::uuid;
            EXCEPTION WHEN invalid_text_representation THEN
                RAISE EXCEPTION 'flag "%": "force_on" holds %, which is not a UUID', pgcanary_private.excerpt(flag_key), pgcanary_private.excerpt(item::text)
                    USING ERRCODE = 'PC001', HINT = 'Every force_on entry is a client UUID string such as "0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b".';
            END;
            -- Stored in the canonical lowercase form that bucketing and lookups use.
            IF NOT ids ? id::text THEN ids := ids || to_jsonb(id::text); END IF;
        END LOOP;
        value := jsonb_set(value, '{force_on}', ids);
    END IF;
    IF jsonb_typeof(value -> 'salt') NOT IN ('string', 'null') THEN
        RAISE EXCEPTION 'flag "%": "salt" must be text, got %', pgcanary_private.excerpt(flag_key), pgcanary_private.excerpt((value -> 'salt')::text)
            USING ERRCODE = 'PC001', HINT = 'A salt gives this flag a cohort independent of other flags, for example "salt": "handoff-v1".';
    END IF;
    RETURN value;
END
$$;

CREATE OR REPLACE FUNCTION pgcanary_private.feature_flags_before_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.value := pgcanary_private.validate_flag_value(NEW.flag_key, NEW.value);
    IF TG_OP = 'UPDATE' AND NEW.safe_enabled IS DISTINCT FROM OLD.safe_enabled THEN
        RAISE EXCEPTION 'the safe state of flag "%" cannot be changed', NEW.flag_key
            USING ERRCODE = 'PC081',
                  DETAIL = 'kill_flag trusts it in an emergency; it is set when the flag is created.',
                  HINT = 'Create a new flag with the safe state it needs (INSERT ... safe_enabled => true for an inverted flag).';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.value IS NOT DISTINCT FROM OLD.value
       AND NEW.description IS NOT DISTINCT FROM OLD.description AND NEW.flag_key = OLD.flag_key THEN
        RETURN NEW;  -- nothing changed: keep who and when of the last real change
    END IF;
    NEW.updated_at := now();
    NEW.updated_by := pgcanary_private.current_actor();
    RETURN NEW;
END
$$;

-- SECURITY DEFINER so the audit trail is append-only for everyone else: service_role may
-- read feature_flag_audit but not write it. Nobody can EXECUTE it directly (triggers do
-- not need EXECUTE to fire).
CREATE OR REPLACE FUNCTION pgcanary_private.feature_flags_audit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.flag_key IS DISTINCT FROM OLD.flag_key THEN
        -- A rename is what it is: the old key ends and the new one begins (functions/audit.sql).
        INSERT INTO public.feature_flag_audit (flag_key, operation, old_value, new_value, actor, reason)
        VALUES (OLD.flag_key, 'DELETE', OLD.value, NULL, pgcanary_private.current_actor(),
                concat_ws(': ', pgcanary_private.current_reason(), 'renamed to ' || NEW.flag_key)),
               (NEW.flag_key, 'INSERT', NULL, NEW.value, pgcanary_private.current_actor(),
                concat_ws(': ', pgcanary_private.current_reason(), 'renamed from ' || OLD.flag_key));
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.value IS NOT DISTINCT FROM OLD.value
       AND NEW.description IS NOT DISTINCT FROM OLD.description THEN
        RETURN NULL;
    END IF;
    INSERT INTO public.feature_flag_audit (flag_key, operation, old_value, new_value, actor, reason)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.flag_key ELSE NEW.flag_key END, TG_OP,
            CASE WHEN TG_OP <> 'INSERT' THEN OLD.value END,
            CASE WHEN TG_OP <> 'DELETE' THEN NEW.value END,
            pgcanary_private.current_actor(), pgcanary_private.current_reason());
    RETURN NULL;
END
$$;

-- Seed 8.4 writes the percentage into business_events_rollout_pct. That row is an alias of
-- business_events_canary.percentage, kept in sync both ways, so the seed's commands work
-- and a SELECT on either row tells the truth. Loops end because each side only writes
-- when the other differs.
CREATE OR REPLACE FUNCTION pgcanary_private.feature_flags_sync_alias()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.flag_key = 'business_events_rollout_pct' THEN
        IF NOT (jsonb_typeof(NEW.value) = 'number' AND NEW.value::text::numeric BETWEEN 0 AND 100
                AND NEW.value::text::numeric = trunc(NEW.value::text::numeric)) THEN
            RAISE EXCEPTION 'flag "business_events_rollout_pct" must be an integer from 0 to 100, got %', NEW.value
                USING ERRCODE = 'PC001',
                      HINT = 'It sets business_events_canary.percentage: UPDATE feature_flags SET value = ''10'' WHERE flag_key = ''business_events_rollout_pct'';';
        END IF;
        UPDATE public.feature_flags AS f
           SET value = jsonb_set(f.value, '{percentage}', NEW.value)
         WHERE f.flag_key = 'business_events_canary'
           AND f.value -> 'percentage' IS DISTINCT FROM NEW.value;
    ELSIF NEW.flag_key = 'business_events_canary' AND NEW.value ? 'percentage' THEN
        UPDATE public.feature_flags AS f
           SET value = NEW.value -> 'percentage'
         WHERE f.flag_key = 'business_events_rollout_pct'
           AND f.value IS DISTINCT FROM NEW.value -> 'percentage';
    END IF;
    RETURN NULL;
END
$$;

-- Every write to feature_flags first takes one transaction-level advisory lock. Writes are
-- rare, and the alias sync above updates a second row from inside a trigger: without a
-- common first lock, the seed's UPDATE of the alias (alias row, then canary row) and an RPC
-- on the canary (canary row, then alias row) deadlock. A statement-level BEFORE trigger
-- runs before any row is locked; flag_for_update takes the same lock before its FOR UPDATE.
CREATE OR REPLACE FUNCTION pgcanary_private.lock_flag_writes()
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_advisory_xact_lock(7227366411771236) $$;  -- a constant of ours: 'pgcanary flags'

CREATE OR REPLACE FUNCTION pgcanary_private.feature_flags_lock_statement()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pgcanary_private.lock_flag_writes();
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER feature_flags_lock_statement
    BEFORE INSERT OR UPDATE OR DELETE ON public.feature_flags
    FOR EACH STATEMENT EXECUTE FUNCTION pgcanary_private.feature_flags_lock_statement();
CREATE OR REPLACE TRIGGER feature_flags_before_write
    BEFORE INSERT OR UPDATE ON public.feature_flags
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.feature_flags_before_write();
CREATE OR REPLACE TRIGGER feature_flags_audit
    AFTER INSERT OR UPDATE OR DELETE ON public.feature_flags
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.feature_flags_audit();
CREATE OR REPLACE TRIGGER feature_flags_sync_alias
    AFTER INSERT OR UPDATE OF value ON public.feature_flags
    FOR EACH ROW WHEN (NEW.flag_key IN ('business_events_rollout_pct', 'business_events_canary'))
    EXECUTE FUNCTION pgcanary_private.feature_flags_sync_alias();

------------------------------------------------------------------------------------------
-- Status and control RPCs.
-- Whether a flag value is in its safe state (feature_flags.safe_enabled); NULL for a value
-- with no on/off state. The one place this is decided (get_rollout_status, flag_overview).
CREATE OR REPLACE FUNCTION pgcanary_private.flag_in_safe_state(value jsonb, safe_enabled boolean)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'boolean' THEN value = to_jsonb(safe_enabled)
                WHEN jsonb_typeof(value -> 'enabled') = 'boolean' THEN value -> 'enabled' = to_jsonb(safe_enabled) END
$$;

CREATE OR REPLACE FUNCTION public.get_rollout_status(flag_key text DEFAULT 'business_events_canary')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v    jsonb;
    e    jsonb;
    safe boolean;
BEGIN
    SELECT f.value, f.safe_enabled INTO v, safe FROM public.feature_flags AS f WHERE f.flag_key = get_rollout_status.flag_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'flag "%" does not exist', pgcanary_private.excerpt(get_rollout_status.flag_key)
            USING ERRCODE = 'PC002', HINT = 'List flags with: SELECT flag_key FROM feature_flags;';
    END IF;
    -- Evaluated without a client: percentage, phase and validity are the flag's own.
    e := public.evaluate_flag(get_rollout_status.flag_key, NULL);
    v := jsonb_build_object(
        'flag_key', get_rollout_status.flag_key,
        'enabled', v = 'true'::jsonb OR coalesce(v -> 'enabled' = 'true'::jsonb, false),
        'percentage', e -> 'percentage',
        'force_on_count', CASE WHEN jsonb_typeof(v -> 'force_on') = 'array' THEN jsonb_array_length(v -> 'force_on') ELSE 0 END,
        'phase', e ->> 'phase',
        'valid', coalesce(e ->> 'error_code', 'TARGETING_KEY_MISSING') = 'TARGETING_KEY_MISSING',
        -- Where kill_flag would put it (feature_flags.safe_enabled), and whether it is there.
        'safe_enabled', safe,
        'in_safe_state', pgcanary_private.flag_in_safe_state(v, safe));
    -- Seed 8.3: the business events rollout also reports its events (functions/events.sql).
    -- Looked up by name so that this file works where that capability is not installed.
    IF get_rollout_status.flag_key = 'business_events_canary'
       AND to_regprocedure('pgcanary_private.rollout_event_metrics()') IS NOT NULL THEN
        v := v || pgcanary_private.rollout_event_metrics();
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION public.get_rollout_status(text) IS
    'Seed 8.1 status: {flag_key, enabled, percentage, force_on_count, phase, valid, safe_enabled, in_safe_state}; for business_events_canary also events_last_hour, events_24h and events_by_type_24h (seed 8.3). Raises PC002 for an unknown flag.';

-- Shared by the control RPCs: a reason is required, recorded transaction-locally for the audit trigger.
CREATE OR REPLACE FUNCTION pgcanary_private.require_reason(reason text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coalesce(btrim(reason), '') = '' THEN
        RAISE EXCEPTION 'a reason is required for this change'
            USING ERRCODE = 'PC003', HINT = 'Say why, for example reason => ''phase 2 after 2 stable days''. It goes to feature_flag_audit.';
    END IF;
    PERFORM set_config('pgcanary.reason', reason, true);
END
$$;

-- The reason belongs to the RPC's own change: cleared afterwards so that later writes in the
-- same transaction (a raw UPDATE, a caller-owned transaction) are not audited with it.
CREATE OR REPLACE FUNCTION pgcanary_private.clear_reason()
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT set_config('pgcanary.reason', '', true) $$;

-- Locks one flag for a change; raises PC002 when the flag is missing.
CREATE OR REPLACE FUNCTION pgcanary_private.flag_for_update(flag_key text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v jsonb;
BEGIN
    PERFORM pgcanary_private.lock_flag_writes();
    SELECT f.value INTO v FROM public.feature_flags AS f WHERE f.flag_key = flag_for_update.flag_key FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'flag "%" does not exist', pgcanary_private.excerpt(flag_for_update.flag_key)
            USING ERRCODE = 'PC002', HINT = 'List flags with: SELECT flag_key FROM feature_flags;';
    END IF;
    RETURN v;
END
$$;

-- The one writer of a canary's percentage: set_rollout_percentage, and the gated paths of
-- functions/governance.sql (advance_rollout, rollback_rollout, guard_tick), call it.
CREATE OR REPLACE FUNCTION pgcanary_private.set_percentage(flag_key text, percentage integer, reason text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v jsonb;
BEGIN
    IF percentage IS NULL OR percentage NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'percentage must be from 0 to 100, got %', coalesce(percentage::text, 'null')
            USING ERRCODE = 'PC003', HINT = 'The seed''s phases are 2, 10, 50 and 100.';
    END IF;
    PERFORM pgcanary_private.require_reason(reason);
    v := pgcanary_private.flag_for_update(flag_key);
    IF jsonb_typeof(v) <> 'object' THEN
        RAISE EXCEPTION 'flag "%" is not a canary flag', flag_key
            USING ERRCODE = 'PC003', HINT = 'Only object values {"enabled": ..., "percentage": ...} have a percentage.';
    END IF;
    UPDATE public.feature_flags AS f
       SET value = jsonb_set(v, ARRAY[CASE WHEN v ? 'canary_pct' THEN 'canary_pct' ELSE 'percentage' END], to_jsonb(percentage))
     WHERE f.flag_key = set_percentage.flag_key;
    PERFORM pgcanary_private.clear_reason();
    RETURN public.get_rollout_status(flag_key);
END
$$;

-- An operator command does what it says or refuses (DESIGN.md invariant 7): raising a flag
-- that has a rollout plan would walk past its GO / NO-GO gate, so it is refused and points
-- to advance_rollout, which checks the gate (or is forced with a reason, audited). Lowering
-- is always allowed: it only takes clients out.
CREATE OR REPLACE FUNCTION public.set_rollout_percentage(flag_key text, percentage integer, reason text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur integer;
BEGIN
    IF EXISTS (SELECT 1 FROM public.rollout_plans AS p WHERE p.flag_key = set_rollout_percentage.flag_key) THEN
        SELECT pgcanary_private.flag_percentage(f.value) INTO cur  -- functions/governance.sql
          FROM public.feature_flags AS f WHERE f.flag_key = set_rollout_percentage.flag_key;
        IF percentage > coalesce(cur, 0) THEN
            RAISE EXCEPTION 'flag "%" has a rollout plan: raising it from % to % goes through its gate',
                            flag_key, coalesce(cur, 0) || '%', percentage || '%'
                USING ERRCODE = 'PC082',
                      DETAIL = 'set_rollout_percentage would skip the GO / NO-GO check of rollout_gate.',
                      HINT = 'See the gate with rollout_gate(flag_key) (pgcanary gate FLAG) and move with advance_rollout(flag_key, reason) (pgcanary advance FLAG); lowering is allowed here or with rollback_rollout.';
        END IF;
    END IF;
    RETURN pgcanary_private.set_percentage(flag_key, percentage, reason);
END
$$;
COMMENT ON FUNCTION public.set_rollout_percentage(text, integer, text) IS
    'Sets a canary flag''s percentage (0..100) with a reason (audited). Raising it only adds clients; lowering it removes the highest buckets. On a flag with a rollout plan only lowering is allowed (PC082): raise it with advance_rollout, which checks the gate.';

-- kill_flag / resume_flag move a flag to its safe state and out of it (feature_flags.safe_enabled,
-- data set when the flag is created: true only for inverted flags such as pausar_julia). They
-- only flip "enabled" (or a boolean value); the percentage stays, so resume restores the same
-- cohort. A flag with no on/off state (the percentage alias, a number) has nothing to kill.
CREATE OR REPLACE FUNCTION pgcanary_private.set_flag_safe(flag_key text, safe boolean, reason text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v       jsonb;
    enabled boolean;
BEGIN
    PERFORM pgcanary_private.require_reason(reason);
    v := pgcanary_private.flag_for_update(flag_key);
    IF jsonb_typeof(v) IS DISTINCT FROM 'boolean' AND jsonb_typeof(v -> 'enabled') IS DISTINCT FROM 'boolean' THEN
        RAISE EXCEPTION 'flag "%" has no on/off state to %', flag_key, CASE WHEN safe THEN 'kill' ELSE 'resume' END
            USING ERRCODE = 'PC080',
                  DETAIL = 'kill_flag and resume_flag act on a boolean value or on an object with "enabled".',
                  HINT = CASE WHEN flag_key = 'business_events_rollout_pct' THEN 'Kill business_events_canary (or business_events_enabled) instead.'
                              ELSE 'Kill the flag that switches this feature on or off.' END;
    END IF;
    SELECT CASE WHEN safe THEN f.safe_enabled ELSE NOT f.safe_enabled END INTO enabled
      FROM public.feature_flags AS f WHERE f.flag_key = set_flag_safe.flag_key;
    UPDATE public.feature_flags AS f
       SET value = CASE WHEN jsonb_typeof(v) = 'object' THEN jsonb_set(v, '{enabled}', to_jsonb(enabled))
                        ELSE to_jsonb(enabled) END
     WHERE f.flag_key = set_flag_safe.flag_key;
    PERFORM pgcanary_private.clear_reason();
    RETURN public.get_rollout_status(flag_key);
END
$$;
DROP FUNCTION IF EXISTS pgcanary_private.set_flag_enabled(text, boolean, text);

CREATE OR REPLACE FUNCTION public.kill_flag(flag_key text, reason text)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pgcanary_private.set_flag_safe(flag_key, true, reason) $$;
COMMENT ON FUNCTION public.kill_flag(text, text) IS
    'Kill switch: moves the flag to its safe state (feature_flags.safe_enabled: off for a feature, paused for pausar_julia) for everyone on the next call; the percentage is kept for resume_flag. Audited with the reason. PC080 for a flag with no on/off state.';

CREATE OR REPLACE FUNCTION public.resume_flag(flag_key text, reason text)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pgcanary_private.set_flag_safe(flag_key, false, reason) $$;
COMMENT ON FUNCTION public.resume_flag(text, text) IS
    'Undoes kill_flag: the flag leaves its safe state (a feature is on again at the percentage it had; pausar_julia un-pauses). Audited with the reason.';

-- Allowlist changes are one UPDATE each under the flag's row lock, with the membership test
-- re-checked on the locked row, so concurrent adds and removes are never lost (the seed's
-- read-modify-write from Python loses updates under races). Only a canary value with a
-- percentage has an allowlist: adding force_on to an on/off flag such as {"enabled": true}
-- would turn it into "allowlist only" and switch everyone else off.
CREATE OR REPLACE FUNCTION pgcanary_private.change_allowlist(cliente_id uuid, flag_key text, add boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v   jsonb;
    ids jsonb;
    id  text := change_allowlist.cliente_id::text;
BEGIN
    IF change_allowlist.cliente_id IS NULL THEN
        RAISE EXCEPTION 'cliente_id is required' USING ERRCODE = 'PC003', HINT = 'Pass the client''s UUID.';
    END IF;
    v := pgcanary_private.flag_for_update(change_allowlist.flag_key);
    IF jsonb_typeof(v) <> 'object' OR NOT (v ? 'percentage' OR v ? 'canary_pct') THEN
        RAISE EXCEPTION 'flag "%" is not a canary flag with a percentage (value %)', change_allowlist.flag_key, v
            USING ERRCODE = 'PC003',
                  HINT = 'An allowlist belongs to a canary value such as {"enabled": true, "percentage": 10, "force_on": []}; set the percentage first.';
    END IF;
    ids := coalesce(v -> 'force_on', '[]'::jsonb);
    IF (ids ? id) = add THEN
        RETURN false;  -- already in (add) or already out (remove)
    END IF;
    PERFORM set_config('pgcanary.reason', CASE WHEN add THEN 'allowlist add' ELSE 'allowlist remove' END, true);
    UPDATE public.feature_flags AS f
       SET value = jsonb_set(v, '{force_on}', CASE WHEN add THEN ids || to_jsonb(id) ELSE ids - id END)
     WHERE f.flag_key = change_allowlist.flag_key;
    PERFORM pgcanary_private.clear_reason();
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION public.add_to_allowlist(cliente_id uuid, flag_key text DEFAULT 'business_events_canary')
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pgcanary_private.change_allowlist(cliente_id, flag_key, true) $$;
COMMENT ON FUNCTION public.add_to_allowlist(uuid, text) IS
    'Adds a client to a canary flag''s force_on list atomically. True when added, false when already there; PC002 for an unknown flag, PC003 for a flag without a percentage.';

CREATE OR REPLACE FUNCTION public.remove_from_allowlist(cliente_id uuid, flag_key text DEFAULT 'business_events_canary')
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pgcanary_private.change_allowlist(cliente_id, flag_key, false) $$;
COMMENT ON FUNCTION public.remove_from_allowlist(uuid, text) IS
    'Removes a client from a canary flag''s force_on list atomically. True when removed, false when absent; PC002 for an unknown flag, PC003 for a flag without a percentage.';

CREATE OR REPLACE FUNCTION public.flag_audit_trail(flag_key text DEFAULT NULL, max_rows integer DEFAULT 50)
RETURNS SETOF public.feature_flag_audit
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.* FROM public.feature_flag_audit AS a
    WHERE flag_audit_trail.flag_key IS NULL OR a.flag_key = flag_audit_trail.flag_key
    ORDER BY a.changed_at DESC, a.audit_id DESC
    LIMIT greatest(coalesce(max_rows, 50), 0)
$$;
COMMENT ON FUNCTION public.flag_audit_trail(text, integer) IS
    'The latest changes of one flag (or all flags when flag_key is null), newest first.';

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.canary_bucket(uuid, text)', 'public.canary_buckets(uuid[], text)',
    'public.evaluate_flag(text, uuid)', 'public.is_enabled(text, uuid)',
    'public.should_emit_event(uuid, text)', 'public.get_rollout_status(text)',
    'public.set_rollout_percentage(text, integer, text)',
    'public.kill_flag(text, text)', 'public.resume_flag(text, text)',
    'public.add_to_allowlist(uuid, text)', 'public.remove_from_allowlist(uuid, text)',
    'public.flag_audit_trail(text, integer)'
]::regprocedure[]);

-- The flag keys the code reads by name (db/0001, 0003, 0005).
CREATE OR REPLACE FUNCTION pgcanary_private.is_seed_flag(flag_key text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT flag_key IN ('pausar_julia', 'campaigns', 'business_events_canary', 'business_events_enabled',
                        'business_events_rollout_pct', 'external_handoff', 'guardrails_canary')
$$;
