SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Governance: rollout plans, GO / NO-GO gates, advance and rollback, prerequisites,
-- incidents. Docs: docs/governance.md, docs/runbook.md. Tests: tests/sql/governance.test.sql.
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC040 NO-GO (advance refused)       PC041 no rollout plan        PC042 already at the last step
--   PC043 prerequisite not found        PC044 invalid prerequisite   PC045 invalid rollback
--   PC046 incident not found            PC047 invalid incident

------------------------------------------------------------------------------------------
-- A flag value's percentage and on/off state: flag_state's reading (db/0017), the one
-- definition evaluate_flag also reads. For values not in a column (OLD in a trigger, a master
-- flag read by key), otherwise read feature_flags.eval_pct / eval_on.
CREATE OR REPLACE FUNCTION pgcanary_private.flag_percentage(value jsonb)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT (pgcanary_private.flag_state(value)).pct::integer $$;

CREATE OR REPLACE FUNCTION pgcanary_private.flag_is_on(value jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT (pgcanary_private.flag_state(value)).is_on $$;

------------------------------------------------------------------------------------------
-- Step history. Every path that changes a planned flag (our RPCs, kill_flag, the seed's raw
-- UPDATE in the SQL Editor, the business_events_rollout_pct alias) goes through feature_flags,
-- so a trigger there is the one place that cannot be bypassed. advance_rollout,
-- rollback_rollout and guard_tick label their rows through transaction-local settings.
-- SECURITY DEFINER so that the history is append-only for everyone else.
CREATE OR REPLACE FUNCTION pgcanary_private.feature_flags_rollout_history()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pct integer := pgcanary_private.flag_percentage(NEW.value);
    on_ boolean := pgcanary_private.flag_is_on(NEW.value);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.rollout_plans p WHERE p.flag_key = NEW.flag_key) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND pct IS NOT DISTINCT FROM pgcanary_private.flag_percentage(OLD.value)
       AND on_ = pgcanary_private.flag_is_on(OLD.value) THEN
        RETURN NULL;  -- an allowlist or description change is not a new step
    END IF;
    INSERT INTO public.rollout_history (flag_key, percentage, enabled, step, action, forced, gate, actor, reason)
    VALUES (NEW.flag_key, pct, on_,
            (SELECT s.name FROM public.rollout_steps s WHERE s.flag_key = NEW.flag_key AND s.percentage = pct),
            coalesce(nullif(current_setting('pgcanary.rollout_action', true), ''), 'change'),
            coalesce(current_setting('pgcanary.rollout_forced', true) = 'true', false),
            nullif(current_setting('pgcanary.rollout_gate', true), '')::jsonb,
            pgcanary_private.current_actor(), pgcanary_private.current_reason());
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER feature_flags_rollout_history
    AFTER INSERT OR UPDATE OF value ON public.feature_flags
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.feature_flags_rollout_history();

-- Labels the history row of the flag change that follows in this transaction; cleared after.
CREATE OR REPLACE FUNCTION pgcanary_private.label_rollout_change(action text, forced boolean, gate jsonb)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT set_config('pgcanary.rollout_action', coalesce(action, ''), true),
           set_config('pgcanary.rollout_forced', coalesce(forced, false)::text, true),
           set_config('pgcanary.rollout_gate', coalesce(gate::text, ''), true)
$$;

CREATE OR REPLACE FUNCTION pgcanary_private.require_plan(flag_key text)
RETURNS public.rollout_plans
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plan public.rollout_plans;
BEGIN
    SELECT p.* INTO plan FROM public.rollout_plans AS p WHERE p.flag_key = require_plan.flag_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'flag "%" has no rollout plan', pgcanary_private.excerpt(require_plan.flag_key)
            USING ERRCODE = 'PC041',
                  HINT = 'Planned flags: SELECT flag_key FROM rollout_plans; add a plan with INSERT INTO rollout_plans / rollout_steps (docs/governance.md).';
    END IF;
    RETURN plan;
END
$$;

------------------------------------------------------------------------------------------
-- SLOs over the stability period, as gate lines (functions/health.sql computes them).
CREATE OR REPLACE FUNCTION pgcanary_private.gate_slo_reasons(since timestamptz, until timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'check', 'slo', 'name', s.slo, 'status', CASE WHEN s.status = 'OK' THEN 'OK' ELSE 'FAIL' END,
               'value', s.value, 'threshold', s.threshold,
               'message', format('%s = %s (threshold %s) since %s', s.slo, coalesce(s.value::text, 'n/a'), s.threshold,
                                 to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')))
               ORDER BY s.ord), '[]'::jsonb)
    FROM pgcanary_private.slo_values(since, until) AS s
$$;

------------------------------------------------------------------------------------------
-- The gate. Every check becomes one line of "reasons" with status OK or FAIL; the verdict is
-- GO only when no line fails, and "blocking" repeats the failing lines' messages.
--   plan:         the flag exists and is on, its master switch is on, there is a next step
--   window:       time at the current step (since its latest history row) vs its min_stable
--   slo:          each SLO over the stability period (the window, or since the step started)
--   prerequisite: each prerequisite of the next step and of every earlier step
--   incident:     open P0/P1 incidents of the flag or global, and those opened in the period
CREATE OR REPLACE FUNCTION public.rollout_gate(flag_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plan      public.rollout_plans := pgcanary_private.require_plan(rollout_gate.flag_key);
    now_      timestamptz := now();
    v         jsonb;
    updated   timestamptz;
    pct       integer;
    on_       boolean;
    master    jsonb;
    cur       public.rollout_steps;
    nxt       public.rollout_steps;
    hist      public.rollout_history;
    since     timestamptz;
    period    timestamptz;
    reasons   jsonb := '[]'::jsonb;
    stability jsonb := '[]'::jsonb;  -- window, SLO and incident lines: what "stable" means (D3)
    r         record;
    elapsed   interval;
    verdict   text;
BEGIN
    SELECT f.value, f.updated_at INTO v, updated FROM public.feature_flags AS f WHERE f.flag_key = rollout_gate.flag_key;
    pct := coalesce(pgcanary_private.flag_percentage(v), 0);
    on_ := pgcanary_private.flag_is_on(v);
    SELECT s.* INTO cur FROM public.rollout_steps AS s
     WHERE s.flag_key = rollout_gate.flag_key AND s.percentage <= pct ORDER BY s.percentage DESC LIMIT 1;
    SELECT s.* INTO nxt FROM public.rollout_steps AS s
     WHERE s.flag_key = rollout_gate.flag_key AND s.percentage > pct ORDER BY s.percentage LIMIT 1;

    -- plan
    IF v IS NULL THEN
        reasons := reasons || jsonb_build_object('check', 'plan', 'name', 'flag', 'status', 'FAIL',
            'message', format('flag "%s" does not exist in feature_flags', rollout_gate.flag_key));
    ELSE
        reasons := reasons || jsonb_build_object('check', 'plan', 'name', 'enabled',
            'status', CASE WHEN on_ THEN 'OK' ELSE 'FAIL' END, 'value', on_,
            'message', CASE WHEN on_ THEN format('flag is on at %s%%', pct)
                            ELSE format('flag is disabled (kill switch; %s%% kept): resume_flag first', pct) END);
    END IF;
    IF plan.master_flag_key IS NOT NULL THEN
        SELECT f.value INTO master FROM public.feature_flags AS f WHERE f.flag_key = plan.master_flag_key;
        -- Same reading as should_emit_event: a missing master row counts as on.
        reasons := reasons || jsonb_build_object('check', 'plan', 'name', plan.master_flag_key,
            'status', CASE WHEN master IS NULL OR pgcanary_private.flag_is_on(master) THEN 'OK' ELSE 'FAIL' END,
            'value', master,
            'message', CASE WHEN master IS NULL OR pgcanary_private.flag_is_on(master)
                            THEN format('master switch %s is on', plan.master_flag_key)
                            ELSE format('master switch %s is off (%s)', plan.master_flag_key, master) END);
    END IF;
    IF nxt.name IS NULL THEN
        reasons := reasons || jsonb_build_object('check', 'plan', 'name', 'next_step', 'status', 'FAIL',
            'message', format('already at the last step (%s%%): nothing to advance to', pct));
    ELSIF cur.name IS NOT NULL AND cur.percentage <> pct THEN
        reasons := reasons || jsonb_build_object('check', 'plan', 'name', 'off_plan', 'status', 'OK', 'value', pct,
            'message', format('flag is at %s%%, between steps %s (%s%%) and %s (%s%%); held to step %s''s window',
                              pct, cur.name, cur.percentage, nxt.name, nxt.percentage, cur.name));
    END IF;

    -- window: the latest history row tells when the current state began. Should it not match
    -- the flag (history written before this trigger existed), the flag's updated_at is the
    -- conservative start: it moves on any change.
    SELECT h.* INTO hist FROM public.rollout_history AS h
     WHERE h.flag_key = rollout_gate.flag_key ORDER BY h.entry_id DESC LIMIT 1;
    since := CASE WHEN hist.entry_id IS NOT NULL AND hist.percentage IS NOT DISTINCT FROM pct AND hist.enabled = on_
                  THEN hist.started_at ELSE coalesce(updated, now_) END;
    IF cur.name IS NULL THEN
        period := now_ - interval '24 hours';
        stability := stability || jsonb_build_object('check', 'window', 'name', 'not_started', 'status', 'OK',
            'message', 'rollout not started: the first step needs no stability window');
    ELSE
        elapsed := now_ - since;
        period := CASE WHEN cur.min_stable > interval '0' THEN greatest(since, now_ - cur.min_stable)
                       ELSE now_ - interval '24 hours' END;
        stability := stability || jsonb_build_object('check', 'window', 'name', cur.name,
            'status', CASE WHEN elapsed >= cur.min_stable THEN 'OK' ELSE 'FAIL' END,
            'value', round(extract(epoch FROM elapsed) / 3600, 1),
            'threshold', round(extract(epoch FROM cur.min_stable) / 3600, 1),
            'message', format('%s h at step %s (%s%%) since %s; %s h required', round(extract(epoch FROM elapsed) / 3600, 1),
                              cur.name, cur.percentage, to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
                              round(extract(epoch FROM cur.min_stable) / 3600, 1)));
    END IF;

    -- SLOs over the stability period.
    stability := stability || pgcanary_private.gate_slo_reasons(period, 'infinity');

    -- incidents
    FOR r IN SELECT i.incident_id, i.severity, i.title, i.opened_at, i.resolved_at
             FROM public.incidents AS i
             WHERE i.severity IN ('P0', 'P1')
               AND (i.flag_key IS NULL OR i.flag_key = rollout_gate.flag_key)
               AND (i.resolved_at IS NULL OR i.opened_at >= period OR i.resolved_at >= period)
             ORDER BY i.opened_at LOOP
        stability := stability || jsonb_build_object('check', 'incident', 'name', '#' || r.incident_id, 'status', 'FAIL',
            'value', r.severity,
            'message', CASE WHEN r.resolved_at IS NULL
                            THEN format('%s incident #%s open since %s: %s', r.severity, r.incident_id,
                                        to_char(r.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), r.title)
                            ELSE format('%s incident #%s inside the stability period (resolved %s): %s', r.severity,
                                        r.incident_id, to_char(r.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), r.title) END);
    END LOOP;
    IF NOT stability @> '[{"check": "incident"}]' THEN
        stability := stability || jsonb_build_object('check', 'incident', 'name', 'P0/P1', 'status', 'OK', 'value', 0,
            'message', format('no P0/P1 incident open or opened since %s', to_char(period AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')));
    END IF;
    reasons := reasons || stability;

    -- prerequisites of the next step and every earlier one
    IF nxt.name IS NOT NULL THEN
        FOR r IN SELECT q.code, q.description, q.verified_by, q.status, q.evidence, q.set_by, s.name AS step
                 FROM public.rollout_prerequisites AS q
                 JOIN public.rollout_steps AS s ON s.flag_key = q.flag_key AND s.name = q.step
                 WHERE q.flag_key = rollout_gate.flag_key AND s.percentage <= nxt.percentage
                 ORDER BY s.percentage, q.code LOOP
            IF r.verified_by = 'gate' THEN
                reasons := reasons || jsonb_build_object('check', 'prerequisite', 'name', r.code,
                    'status', CASE WHEN stability @> '[{"status": "FAIL"}]' THEN 'FAIL' ELSE 'OK' END,
                    'value', 'verified by the gate',
                    'message', format('%s (step %s): %s — %s', r.code, r.step, r.description,
                                      CASE WHEN stability @> '[{"status": "FAIL"}]' THEN 'not yet: see the window, SLO and incident lines'
                                           ELSE 'window, SLOs and incidents OK' END));
            ELSE
                reasons := reasons || jsonb_build_object('check', 'prerequisite', 'name', r.code,
                    'status', CASE WHEN r.status = 'met' THEN 'OK' ELSE 'FAIL' END,
                    'value', r.status, 'evidence', r.evidence, 'set_by', r.set_by,
                    'message', format('%s (step %s) %s: %s', r.code, r.step, r.status, r.description));
            END IF;
        END LOOP;
    END IF;

    verdict := CASE WHEN reasons @> '[{"status": "FAIL"}]' THEN 'NO-GO' ELSE 'GO' END;
    RETURN jsonb_build_object(
        'flag_key', rollout_gate.flag_key,
        'verdict', verdict,
        'evaluated_at', now_,
        'current', CASE WHEN v IS NULL THEN NULL ELSE jsonb_build_object(
            'step', cur.name, 'percentage', pct, 'enabled', on_, 'since', since) END,
        'next', CASE WHEN nxt.name IS NULL THEN NULL ELSE jsonb_build_object(
            'step', nxt.name, 'percentage', nxt.percentage) END,
        'period', jsonb_build_object('since', period, 'until', now_),
        'reasons', reasons,
        'blocking', (SELECT coalesce(jsonb_agg(e -> 'message'), '[]'::jsonb)
                     FROM jsonb_array_elements(reasons) AS e WHERE e ->> 'status' = 'FAIL'));
END
$$;
COMMENT ON FUNCTION public.rollout_gate(text) IS
    'GO / NO-GO for a planned flag''s next step: {flag_key, verdict, evaluated_at, current, next, period, reasons[{check, name, status OK|FAIL, value, threshold, message}], blocking[messages]}. Checks: flag on and master switch on, time at the current step vs its window, each SLO over the stability period, each prerequisite up to the next step, P0/P1 incidents. PC041 when the flag has no plan.';

------------------------------------------------------------------------------------------
-- Advance and rollback go through pgcanary_private.set_percentage (as set_rollout_percentage does), so feature_flag_audit records the
-- change with its reason, and the history trigger records the step with the gate's verdict.
CREATE OR REPLACE FUNCTION public.advance_rollout(flag_key text, reason text, force boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gate    jsonb;
    forced  boolean;
    status  jsonb;
BEGIN
    PERFORM pgcanary_private.require_reason(advance_rollout.reason);
    PERFORM pgcanary_private.require_plan(advance_rollout.flag_key);
    -- The row lock serialises concurrent advances: the second one sees the first's step.
    PERFORM pgcanary_private.flag_for_update(advance_rollout.flag_key);
    gate := public.rollout_gate(advance_rollout.flag_key);
    IF gate -> 'next' = 'null'::jsonb THEN
        RAISE EXCEPTION 'flag "%" is already at its last step (%): nothing to advance to',
                        advance_rollout.flag_key, (gate #>> '{current,percentage}') || '%'
            USING ERRCODE = 'PC042', HINT = 'To go back, use rollback_rollout(flag_key, percentage, reason).';
    END IF;
    forced := gate ->> 'verdict' = 'NO-GO';
    IF forced AND NOT coalesce(advance_rollout.force, false) THEN
        RAISE EXCEPTION 'advance of "%" to step % (%) refused, NO-GO: %', advance_rollout.flag_key,
                        gate #>> '{next,step}', (gate #>> '{next,percentage}') || '%',
                        (SELECT string_agg(m #>> '{}', '; ') FROM jsonb_array_elements(gate -> 'blocking') AS m)
            USING ERRCODE = 'PC040', DETAIL = gate::text,
                  HINT = 'Fix the causes, or force it with a reason (audited): select advance_rollout(flag_key => ''...'', reason => ''...'', force => true);';
    END IF;
    PERFORM pgcanary_private.label_rollout_change('advance', forced, gate);
    status := pgcanary_private.set_percentage(advance_rollout.flag_key, (gate #>> '{next,percentage}')::integer,
                                            CASE WHEN forced THEN 'FORCED past NO-GO: ' || advance_rollout.reason
                                                 ELSE advance_rollout.reason END);
    PERFORM pgcanary_private.label_rollout_change(NULL, NULL, NULL);
    RETURN jsonb_build_object('flag_key', advance_rollout.flag_key,
                              'from_percentage', (gate #>> '{current,percentage}')::integer,
                              'to_percentage', (gate #>> '{next,percentage}')::integer,
                              'step', gate #>> '{next,step}', 'verdict', gate ->> 'verdict', 'forced', forced,
                              'blocking', gate -> 'blocking', 'status', status);
END
$$;
COMMENT ON FUNCTION public.advance_rollout(text, text, boolean) IS
    'Moves a planned flag to its next step when rollout_gate says GO. A NO-GO raises PC040 with the reasons, unless force => true (the reason is then recorded as forced in rollout_history and feature_flag_audit). PC042 at the last step.';

CREATE OR REPLACE FUNCTION public.rollback_rollout(flag_key text, percentage integer, reason text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v      jsonb;
    cur    integer;
    status jsonb;
BEGIN
    PERFORM pgcanary_private.require_reason(rollback_rollout.reason);
    PERFORM pgcanary_private.require_plan(rollback_rollout.flag_key);
    IF rollback_rollout.percentage IS NULL OR rollback_rollout.percentage NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'percentage must be from 0 to 100, got %', coalesce(rollback_rollout.percentage::text, 'null')
            USING ERRCODE = 'PC003', HINT = 'A rollback goes to a lower percentage, for example the seed''s drill: 50 -> 10.';
    END IF;
    v := pgcanary_private.flag_for_update(rollback_rollout.flag_key);
    cur := pgcanary_private.flag_percentage(v);
    IF rollback_rollout.percentage >= coalesce(cur, 0) THEN
        RAISE EXCEPTION 'rollback of "%" to % does not lower it: it is at %', rollback_rollout.flag_key,
                        rollback_rollout.percentage || '%', coalesce(cur || '%', 'no percentage')
            USING ERRCODE = 'PC045', HINT = 'Give a percentage below the current one; to go up use advance_rollout (it checks the gate).';
    END IF;
    PERFORM pgcanary_private.label_rollout_change('rollback', false, NULL);
    status := pgcanary_private.set_percentage(rollback_rollout.flag_key, rollback_rollout.percentage, rollback_rollout.reason);
    PERFORM pgcanary_private.label_rollout_change(NULL, NULL, NULL);
    RETURN jsonb_build_object('flag_key', rollback_rollout.flag_key, 'from_percentage', cur,
                              'to_percentage', rollback_rollout.percentage, 'status', status);
END
$$;
COMMENT ON FUNCTION public.rollback_rollout(text, integer, text) IS
    'Emergency rollback in one call: lowers a planned flag''s percentage (no gate), audited with the reason; the stability window restarts. PC045 when the percentage does not go down.';

------------------------------------------------------------------------------------------
-- Prerequisites and incidents.
CREATE OR REPLACE FUNCTION public.set_prerequisite(flag_key text, code text, status text, evidence text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    row_ public.rollout_prerequisites;
BEGIN
    IF set_prerequisite.status IS NULL OR set_prerequisite.status NOT IN ('pending', 'met', 'failed') THEN
        RAISE EXCEPTION 'prerequisite status must be pending, met or failed, got %', coalesce(pgcanary_private.excerpt(set_prerequisite.status), 'null')
            USING ERRCODE = 'PC044', HINT = 'met needs evidence: a link, a test run, the output of pgcanary drill.';
    END IF;
    SELECT q.* INTO row_ FROM public.rollout_prerequisites AS q
     WHERE q.flag_key = set_prerequisite.flag_key AND q.code = set_prerequisite.code FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'prerequisite "%" of flag "%" does not exist', pgcanary_private.excerpt(set_prerequisite.code), pgcanary_private.excerpt(set_prerequisite.flag_key)
            USING ERRCODE = 'PC043',
                  HINT = 'List them with: SELECT flag_key, code, step, status FROM rollout_prerequisites ORDER BY 1, 2;';
    END IF;
    IF row_.verified_by = 'gate' THEN
        RAISE EXCEPTION 'prerequisite "%" of flag "%" is verified by rollout_gate, not set by hand', set_prerequisite.code, set_prerequisite.flag_key
            USING ERRCODE = 'PC044', HINT = 'It is met when the gate''s window, SLO and incident lines are all OK: select rollout_gate(''...'');';
    END IF;
    IF set_prerequisite.status IN ('met', 'failed') AND btrim(coalesce(set_prerequisite.evidence, '')) = '' THEN
        RAISE EXCEPTION 'prerequisite "%" of flag "%": status % needs evidence', set_prerequisite.code, set_prerequisite.flag_key, set_prerequisite.status
            USING ERRCODE = 'PC044', HINT = 'Say what proves it: a PR or CI run, a test name, the output of pgcanary drill.';
    END IF;
    UPDATE public.rollout_prerequisites AS q
       SET status = set_prerequisite.status, evidence = nullif(btrim(set_prerequisite.evidence), ''),
           set_by = pgcanary_private.current_actor(), set_at = now()
     WHERE q.flag_key = set_prerequisite.flag_key AND q.code = set_prerequisite.code
    RETURNING q.* INTO row_;
    RETURN to_jsonb(row_);
END
$$;
COMMENT ON FUNCTION public.set_prerequisite(text, text, text, text) IS
    'Sets a rollout prerequisite''s status (pending, met, failed) with its evidence (required for met and failed); records who and when. PC043 unknown prerequisite, PC044 bad status, missing evidence or a gate-verified row.';

CREATE OR REPLACE FUNCTION public.open_incident(severity text, title text, flag_key text DEFAULT NULL,
                                                details jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    row_ public.incidents;
BEGIN
    IF open_incident.severity IS NULL OR open_incident.severity NOT IN ('P0', 'P1', 'P2', 'P3') THEN
        RAISE EXCEPTION 'incident severity must be P0, P1, P2 or P3, got %', coalesce(pgcanary_private.excerpt(open_incident.severity), 'null')
            USING ERRCODE = 'PC047', HINT = 'P0/P1 block every rollout gate while open and during the stability window.';
    END IF;
    IF btrim(coalesce(open_incident.title, '')) = '' THEN
        RAISE EXCEPTION 'an incident needs a title' USING ERRCODE = 'PC047', HINT = 'Say what happened, without client data.';
    END IF;
    IF jsonb_typeof(coalesce(open_incident.details, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'incident details must be a JSON object, got %', pgcanary_private.excerpt(open_incident.details::text)
            USING ERRCODE = 'PC047', HINT = 'For example {"slo": "outbound_to_opted_out", "value": 1}.';
    END IF;
    IF open_incident.flag_key IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM public.feature_flags AS f WHERE f.flag_key = open_incident.flag_key) THEN
        RAISE EXCEPTION 'flag "%" does not exist', pgcanary_private.excerpt(open_incident.flag_key)
            USING ERRCODE = 'PC002', HINT = 'Leave flag_key null for an incident that blocks every rollout.';
    END IF;
    INSERT INTO public.incidents (severity, title, flag_key, details, opened_by)
    VALUES (open_incident.severity, btrim(open_incident.title), open_incident.flag_key,
            coalesce(open_incident.details, '{}'), pgcanary_private.current_actor())
    RETURNING * INTO row_;
    RETURN to_jsonb(row_);
END
$$;
COMMENT ON FUNCTION public.open_incident(text, text, text, jsonb) IS
    'Opens an incident (P0-P3). An open P0/P1 of the flag, or global (flag_key null), makes rollout_gate NO-GO. PC047 bad severity, title or details; PC002 unknown flag.';

CREATE OR REPLACE FUNCTION public.resolve_incident(incident_id bigint, resolution text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    row_ public.incidents;
BEGIN
    IF btrim(coalesce(resolve_incident.resolution, '')) = '' THEN
        RAISE EXCEPTION 'resolving incident #% needs a resolution', coalesce(resolve_incident.incident_id::text, 'null')
            USING ERRCODE = 'PC047', HINT = 'Say what fixed it, for example the PR of the fix.';
    END IF;
    SELECT i.* INTO row_ FROM public.incidents AS i WHERE i.incident_id = resolve_incident.incident_id FOR UPDATE;
    IF NOT FOUND OR row_.resolved_at IS NOT NULL THEN
        RAISE EXCEPTION 'incident #% %', coalesce(resolve_incident.incident_id::text, 'null'),
                        CASE WHEN row_.incident_id IS NULL THEN 'does not exist' ELSE 'is already resolved' END
            USING ERRCODE = 'PC046', HINT = 'Open incidents: SELECT incident_id, severity, title FROM incidents WHERE resolved_at IS NULL;';
    END IF;
    UPDATE public.incidents AS i
       SET resolved_at = now(), resolved_by = pgcanary_private.current_actor(), resolution = btrim(resolve_incident.resolution)
     WHERE i.incident_id = resolve_incident.incident_id
    RETURNING i.* INTO row_;
    RETURN to_jsonb(row_);
END
$$;
COMMENT ON FUNCTION public.resolve_incident(bigint, text) IS
    'Resolves an open incident with a resolution. It still blocks the gates while it lies inside a stability period. PC046 unknown or already resolved.';

------------------------------------------------------------------------------------------
-- The guard (seed 002, "Vazamento opted_out: rollback imediato + pausar_julia"). Every
-- minute the scheduler calls guard_tick. On outbound_to_opted_out > 0 it pauses the
-- assistant, rolls back every plan that lists that SLO in guard_slos to its
-- guard_rollback_percentage, opens a P0 incident (global: every gate says NO-GO) and records
-- a guard_action event, and queues the P0 alert (functions/alerts.sql). Idempotent: while its incident is open it acts
-- again only when the leak count has grown since it last acted; leaks before the last
-- resolution of its incident are not counted again.
CREATE OR REPLACE FUNCTION public.guard_tick()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key      constant text := 'guard:outbound_to_opted_out';
    inc      public.incidents;
    resolved timestamptz;
    since    timestamptz;
    leaks    numeric;
    plan     record;
    pct      integer;
    rolled   jsonb := '[]'::jsonb;
    paused   jsonb;
    event_id uuid;
    reason   text;
    result   jsonb;
BEGIN
    -- One tick at a time: two schedulers (or a manual call) must not both act.
    PERFORM pg_catalog.pg_advisory_xact_lock(7062636172790006);
    SELECT i.* INTO inc FROM public.incidents AS i WHERE i.guard_key = key AND i.resolved_at IS NULL FOR UPDATE;
    SELECT max(i.resolved_at) INTO resolved FROM public.incidents AS i WHERE i.guard_key = key;
    since := coalesce((inc.details ->> 'since')::timestamptz,
                      greatest(now() - interval '24 hours', coalesce(resolved, '-infinity'::timestamptz)));
    SELECT s.value INTO leaks FROM pgcanary_private.slo_values(since, 'infinity') AS s WHERE s.slo = 'outbound_to_opted_out';
    IF leaks = 0 THEN
        RETURN jsonb_build_object('action', 'none', 'outbound_to_opted_out', 0, 'since', since,
                                  'incident_id', inc.incident_id);
    END IF;
    IF inc.incident_id IS NOT NULL AND leaks <= (inc.details ->> 'leaks')::numeric THEN
        RETURN jsonb_build_object('action', 'none', 'outbound_to_opted_out', leaks, 'since', since,
                                  'incident_id', inc.incident_id, 'note', 'already handled by the open incident');
    END IF;

    reason := format('guard: outbound_to_opted_out = %s since %s', leaks,
                     to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'));
    -- A kill switch that cannot be thrown (its flag row missing, say) must not stop the
    -- rollback and the incident: the failure is reported instead.
    BEGIN
        paused := public.pausar_julia(reason);
    EXCEPTION WHEN OTHERS THEN
        paused := jsonb_build_object('paused', false, 'changed', false, 'error', SQLSTATE || ': ' || SQLERRM);
    END;
    FOR plan IN SELECT p.flag_key, p.guard_rollback_percentage AS target FROM public.rollout_plans AS p
                WHERE 'outbound_to_opted_out' = ANY (p.guard_slos) AND p.guard_rollback_percentage IS NOT NULL
                ORDER BY p.flag_key LOOP
        SELECT pgcanary_private.flag_percentage(f.value) INTO pct
        FROM public.feature_flags AS f WHERE f.flag_key = plan.flag_key FOR UPDATE;
        IF pct > plan.target THEN
            PERFORM pgcanary_private.label_rollout_change('guard', false, NULL);
            PERFORM pgcanary_private.set_percentage(plan.flag_key, plan.target, reason);
            PERFORM pgcanary_private.label_rollout_change(NULL, NULL, NULL);
            rolled := rolled || jsonb_build_object('flag_key', plan.flag_key, 'from', pct, 'to', plan.target);
        END IF;
    END LOOP;
    IF inc.incident_id IS NULL THEN
        INSERT INTO public.incidents (severity, title, flag_key, source, guard_key, details, opened_by)
        VALUES ('P0', 'outbound_to_opted_out > 0: messages sent to opted-out clients', NULL, 'guard', key,
                jsonb_build_object('slo', 'outbound_to_opted_out', 'since', since, 'leaks', leaks,
                                   'acted_at', now(), 'rolled_back', rolled, 'paused', paused -> 'paused',
                                   'pause_error', paused -> 'error'),
                pgcanary_private.current_actor())
        RETURNING * INTO inc;
    ELSE
        UPDATE public.incidents AS i
           SET details = i.details || jsonb_build_object('leaks', leaks, 'acted_at', now(),
                                                         'rolled_back', (i.details -> 'rolled_back') || rolled)
         WHERE i.incident_id = inc.incident_id
        RETURNING * INTO inc;
    END IF;
    event_id := pgcanary_private.record_event('guard_action', NULL, NULL,
        jsonb_build_object('action', 'pause_and_rollback', 'slo', 'outbound_to_opted_out', 'value', leaks,
                           'incident_id', inc.incident_id, 'rolled_back', rolled,
                           'paused_now', paused -> 'changed'), 'guard');
    result := jsonb_build_object('action', 'pause_and_rollback', 'outbound_to_opted_out', leaks, 'since', since,
                                 'paused', paused -> 'paused', 'paused_now', paused -> 'changed',
                                 'pause_error', paused -> 'error', 'rolled_back', rolled,
                                 'incident_id', inc.incident_id, 'event_id', event_id);
    -- The P0 alert commits with the incident: Slack down now means alerted later, not never.
    RETURN result || jsonb_build_object('alert_id',
        pgcanary_private.enqueue_alert('guard', pgcanary_private.guard_alert_text(result)));
END
$$;
COMMENT ON FUNCTION public.guard_tick() IS
    'The guard (every minute): on outbound_to_opted_out > 0 pauses the assistant (pausar_julia), rolls back the plans guarding that SLO, opens or updates a global P0 incident and records a guard_action event. Returns {action none|pause_and_rollback, outbound_to_opted_out, since, paused, paused_now, pause_error, rolled_back[], incident_id, event_id, alert_id}; the P0 alert is queued in alert_outbox in the same transaction. Idempotent.';

------------------------------------------------------------------------------------------
-- One row per plan for the SQL Editor: where each rollout stands and what blocks it.
CREATE OR REPLACE VIEW public.rollout_overview
WITH (security_invoker = true) AS
SELECT p.flag_key,
       (g #>> '{current,percentage}')::integer AS percentage,
       (g #>> '{current,enabled}')::boolean    AS enabled,
       g #>> '{current,step}'                  AS step,
       (g #>> '{current,since}')::timestamptz  AS since,
       g #>> '{next,step}'                     AS next_step,
       (g #>> '{next,percentage}')::integer    AS next_percentage,
       g ->> 'verdict'                         AS verdict,
       g -> 'blocking'                         AS blocking
FROM public.rollout_plans AS p
CROSS JOIN LATERAL public.rollout_gate(p.flag_key) AS g;
COMMENT ON VIEW public.rollout_overview IS
    'Every planned flag: current step and percentage, since when, the next step, and the gate''s verdict with what blocks it.';
REVOKE ALL ON public.rollout_overview FROM PUBLIC, anon, authenticated;
GRANT SELECT ON public.rollout_overview TO service_role;

-- Every flag for `pgcanary list`: its state and safe state, and for a planned flag its step
-- and gate (rollout_overview, one gate evaluation per plan).
CREATE OR REPLACE FUNCTION public.flag_overview()
RETURNS TABLE (flag_key text, enabled boolean, in_safe_state boolean, percentage integer, step text, verdict text,
               updated_at timestamptz, updated_by text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.flag_key, pgcanary_private.flag_is_on(f.value),
           pgcanary_private.flag_in_safe_state(f.value, f.safe_enabled),
           pgcanary_private.flag_percentage(f.value), o.step, o.verdict, f.updated_at, f.updated_by
      FROM public.feature_flags AS f
      LEFT JOIN public.rollout_overview AS o ON o.flag_key = f.flag_key
     ORDER BY f.flag_key
$$;
COMMENT ON FUNCTION public.flag_overview() IS
    'Every flag: enabled, in_safe_state (where kill_flag would put it), percentage, and for a planned flag its step and GO / NO-GO verdict; last change and who made it.';

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.rollout_gate(text)', 'public.advance_rollout(text, text, boolean)',
    'public.rollback_rollout(text, integer, text)', 'public.set_prerequisite(text, text, text, text)',
    'public.open_incident(text, text, text, jsonb)', 'public.resolve_incident(bigint, text)',
    'public.guard_tick()', 'public.flag_overview()'
]::regprocedure[]);
