-- depends: 0002_business_events 0003_guardrails 0004_outbox
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
DO $$ BEGIN PERFORM pgcanary_private.refuse_existing(ARRAY['public.rollout_plans', 'public.rollout_steps', 'public.rollout_prerequisites', 'public.rollout_history', 'public.incidents']); END $$;  -- db/0000
-- Governance and health (seed 002: phases A-D, gaps, stability windows, SLOs, the daily
-- panel; seed 000 Story 8.4): rollout plans as data, their prerequisites with evidence,
-- incidents, the history of every step a planned flag took, and the rollup behind the SLO
-- panel. Functions: functions/governance.sql, functions/health.sql. Docs: docs/governance.md,
-- docs/health.md.

-- One plan per canary flag. No foreign key to feature_flags: that table may be the user's own
-- (adopted), and the seed's INSERT ... ON CONFLICT flows delete and re-create flag rows; a plan
-- whose flag is missing is reported by rollout_gate instead.
CREATE TABLE public.rollout_plans (
    flag_key                  text PRIMARY KEY,
    description               text NOT NULL,
    -- A master switch that must be on for the canary to mean anything (seed 8.4's
    -- business_events_enabled); NULL when the flag has none.
    master_flag_key           text,
    -- Critical SLOs whose breach makes guard_tick roll this canary back, and to what.
    guard_slos                text[] NOT NULL DEFAULT '{}',
    guard_rollback_percentage integer CHECK (guard_rollback_percentage BETWEEN 0 AND 100),
    created_at                timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.rollout_plans IS
    'A rollout plan per canary flag: steps in rollout_steps, prerequisites in rollout_prerequisites. guard_slos: critical SLOs whose breach makes guard_tick roll the flag back to guard_rollback_percentage.';

-- Steps are ordered by percentage (a rollout only goes up; rollback_rollout goes down).
-- min_stable is how long the flag must stay stable at this step before the next one.
CREATE TABLE public.rollout_steps (
    flag_key   text    NOT NULL REFERENCES public.rollout_plans (flag_key) ON UPDATE CASCADE ON DELETE CASCADE,
    name       text    NOT NULL CHECK (btrim(name) <> ''),
    percentage integer NOT NULL CHECK (percentage BETWEEN 1 AND 100),
    min_stable interval NOT NULL DEFAULT '0' CHECK (min_stable >= '0'),
    criteria   text,
    PRIMARY KEY (flag_key, percentage),
    UNIQUE (flag_key, name)
);
COMMENT ON TABLE public.rollout_steps IS
    'Ordered steps of a rollout plan (by percentage). min_stable: time the flag must stay stable at this step before advancing to the next. criteria: the seed''s success criteria, for the operator.';

-- The seed's gaps and criteria (B1, B2, C1, D1-D3). A prerequisite is required to enter its
-- step and every later one (seed 002: "C requires gaps B + dedupe", "D requires gaps C + playbook").
-- verified_by = 'gate': the gate itself decides (D3 "7 days stable at 50%" is its window,
-- SLO and incident checks), so no status is stored for it.
CREATE TABLE public.rollout_prerequisites (
    flag_key    text NOT NULL,
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9_.-]{1,32}$'),
    step        text NOT NULL,
    description text NOT NULL,
    verified_by text NOT NULL DEFAULT 'operator' CHECK (verified_by IN ('operator', 'gate')),
    status      text CHECK (status IN ('pending', 'met', 'failed')),
    evidence    text,
    set_by      text,
    set_at      timestamptz,
    PRIMARY KEY (flag_key, code),
    FOREIGN KEY (flag_key, step) REFERENCES public.rollout_steps (flag_key, name) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT rollout_prerequisites_status_by_verifier
        CHECK ((verified_by = 'operator') = (status IS NOT NULL)),
    CONSTRAINT rollout_prerequisites_met_has_evidence
        CHECK (status IS DISTINCT FROM 'met' OR btrim(coalesce(evidence, '')) <> '')
);
COMMENT ON TABLE public.rollout_prerequisites IS
    'Prerequisites of a rollout step (seed 002 gaps B1, B2, C1 and criteria D1-D3): status pending / met / failed, evidence, who set it and when. Required for their step and every later step. Rows verified_by gate have no stored status: rollout_gate computes them.';

-- Every change of a planned flag's percentage or enabled state, by any path (advance_rollout,
-- rollback_rollout, set_rollout_percentage, kill_flag, or a raw UPDATE in the SQL Editor),
-- written by a trigger. The latest row tells when the current step started: the stability
-- window counts from its started_at. Append-only for service_role (the trigger is SECURITY DEFINER).
CREATE TABLE public.rollout_history (
    entry_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_key   text        NOT NULL,
    percentage integer,
    enabled    boolean     NOT NULL,
    step       text,
    action     text        NOT NULL CHECK (action IN ('install', 'change', 'advance', 'rollback', 'guard')),
    forced     boolean     NOT NULL DEFAULT false,
    gate       jsonb,
    actor      text        NOT NULL,
    reason     text,
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rollout_history_flag_idx ON public.rollout_history (flag_key, entry_id DESC);
COMMENT ON TABLE public.rollout_history IS
    'One row per change of a planned flag''s percentage or enabled state (any path): the step entered, who, why, whether a NO-GO was forced and the gate''s verdict at that moment. Append-only.';

-- P0/P1 incidents make every gate NO-GO while open and during the stability window in which
-- they were opened (seed 002: "zero P0/P1 alerts" defines stable). guard_key deduplicates
-- the guard's own incidents: at most one open incident per key.
CREATE TABLE public.incidents (
    incident_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    severity    text        NOT NULL CHECK (severity IN ('P0', 'P1', 'P2', 'P3')),
    title       text        NOT NULL CHECK (btrim(title) <> ''),
    flag_key    text,
    source      text        NOT NULL DEFAULT 'operator' CHECK (source IN ('operator', 'guard')),
    guard_key   text,
    details     jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    opened_at   timestamptz NOT NULL DEFAULT now(),
    opened_by   text        NOT NULL,
    resolved_at timestamptz,
    resolved_by text,
    resolution  text,
    CONSTRAINT incidents_resolution_complete
        CHECK ((resolved_at IS NULL) = (resolved_by IS NULL) AND (resolved_at IS NULL) = (resolution IS NULL))
);
CREATE UNIQUE INDEX incidents_one_open_per_guard_key ON public.incidents (guard_key)
    WHERE resolved_at IS NULL AND guard_key IS NOT NULL;
CREATE INDEX incidents_open_idx ON public.incidents (opened_at) WHERE severity IN ('P0', 'P1');
COMMENT ON TABLE public.incidents IS
    'Incidents P0-P3. An open P0/P1 (of the flag or global, flag_key NULL), or one opened inside the stability window, makes rollout_gate NO-GO. Resolve with resolve_incident; never deleted.';

------------------------------------------------------------------------------------------
-- The seeded plans.
-- Guardrail canary: the seed's phases A-D (seed 002) are percentages of clients on the
-- sovereign-guardrail outbound path; the flag key is guardrails_canary (a *_canary key, so
-- feature_flags validates it as a canary value). The seed's state: phase A, 10%, GO.
INSERT INTO public.feature_flags (flag_key, value, description) VALUES
    ('guardrails_canary', '{"enabled": true, "percentage": 10, "force_on": []}',
     'Canary of the outbound guardrails rollout (seed 002 phases A 10%, B 25%, C 50%, D 100%); plan in rollout_plans')
ON CONFLICT (flag_key) DO NOTHING;

INSERT INTO public.rollout_plans (flag_key, description, master_flag_key, guard_slos, guard_rollback_percentage) VALUES
    ('business_events_canary', 'Business events rollout (seed 000, Epic 08 / Story 8.4): 2% for 2 days, 10% for 3 days, 50% for 2 days, then 100%',
     'business_events_enabled', '{}', NULL),
    ('guardrails_canary', 'Outbound guardrails production canary (seed 002): A 10%, B 25% after 24 h stable, C 50% after 48 h, D 100% after 7 days',
     NULL, '{outbound_to_opted_out}', 10);

INSERT INTO public.rollout_steps (flag_key, name, percentage, min_stable, criteria) VALUES
    ('business_events_canary', 'Fase 1', 2,   '2 days', 'Sem erros, eventos chegando (SELECT COUNT(*) FROM business_events WHERE ts > NOW() - INTERVAL ''1 hour''), sem impacto em latência'),
    ('business_events_canary', 'Fase 2', 10,  '3 days', 'Funil calculando (response_rate ~ 20-40%), sem degradação de performance'),
    ('business_events_canary', 'Fase 3', 50,  '2 days', 'Alertas disparando corretamente, volume de dados aceitável, queries de funil performáticas'),
    ('business_events_canary', 'Fase 4', 100, '0',      'Produção completa; remover código de rollout após 2 semanas de estabilidade'),
    ('guardrails_canary', 'A', 10,  '24 hours', 'Guardrails + CI + monitoramento manual; restrições: campanhas pequenas, sem reprocessamento agressivo, ritual diário'),
    ('guardrails_canary', 'B', 25,  '48 hours', '24h estáveis em 10%, B1 e B2 implementados e testados, métricas de saúde OK'),
    ('guardrails_canary', 'C', 50,  '7 days',   '48h estáveis em 25%, C1 implementado e testado, zero duplicatas, métricas de saúde OK'),
    ('guardrails_canary', 'D', 100, '0',        'Playbook testado, 7 dias estáveis em 50%, métricas OK por 7 dias, zero incidentes P0/P1 na semana');

INSERT INTO public.rollout_prerequisites (flag_key, code, step, description, verified_by, status) VALUES
    ('guardrails_canary', 'B1', 'B', 'Toggle campanhas via Slack (toggle_campanhas on/off/status)', 'operator', 'pending'),
    ('guardrails_canary', 'B2', 'B', 'Retry/backoff Evolution para erros transitórios', 'operator', 'pending'),
    ('guardrails_canary', 'C1', 'C', 'Dedupe via outbox interno (outbound_messages)', 'operator', 'pending'),
    ('guardrails_canary', 'D1', 'D', 'Dedupe/Outbox funcionando em produção (gap C1)', 'operator', 'pending'),
    ('guardrails_canary', 'D2', 'D', 'Playbook de incidentes testado (pgcanary drill: kill switch Julia, kill switch campanhas, rollback 50% -> 10%, bypass com bypass_reason)', 'operator', 'pending'),
    ('guardrails_canary', 'D3', 'D', '7 dias estáveis em 50%: verificado pelo rollout_gate (janela, SLOs e incidentes)', 'gate', NULL);

-- The step each planned flag is at now: the stability window starts at install.
INSERT INTO public.rollout_history (flag_key, percentage, enabled, step, action, actor, reason)
SELECT p.flag_key, pct.percentage,
       f.value = 'true'::jsonb OR coalesce(f.value -> 'enabled' = 'true'::jsonb, false),
       (SELECT s.name FROM public.rollout_steps s WHERE s.flag_key = p.flag_key AND s.percentage = pct.percentage),
       'install', current_user, 'pgcanary governance installed'
FROM public.rollout_plans p
JOIN public.feature_flags f ON f.flag_key = p.flag_key
CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(coalesce(f.value -> 'percentage', f.value -> 'canary_pct')) = 'number'
                                THEN coalesce(f.value -> 'percentage', f.value -> 'canary_pct')::text::numeric::integer END
                    AS percentage) pct;

------------------------------------------------------------------------------------------
-- Health rollup (functions/health.sql). Q1 counts a million rows of the last 24 h, and a
-- 7-day stability window seven million: the panel and the gates read closed 5-minute buckets
-- from here and count only the edges live. One row per bucket and combination of what the
-- SLOs and Q1-Q4 group by; to_opted_out is decided when the bucket is counted, from
-- opt_out_audit (was the client opted out at the event's ts?).
CREATE TABLE pgcanary_private.health_rollup (
    bucket           timestamptz NOT NULL,
    event_type       text        NOT NULL,
    block_reason     text,
    channel          text,
    method           text,
    invalid_reply    boolean     NOT NULL,
    to_opted_out     boolean     NOT NULL,
    -- an outbound_sent event not written by the outbox (those are counted from the outbox itself)
    sent_elsewhere   boolean     NOT NULL,
    events           bigint      NOT NULL CHECK (events >= 0)
);
CREATE UNIQUE INDEX health_rollup_key ON pgcanary_private.health_rollup
    (bucket, event_type, block_reason, channel, method, invalid_reply, to_opted_out, sent_elsewhere) NULLS NOT DISTINCT;

-- Q1's COUNT(DISTINCT cliente_id) does not add up across buckets; the latest ts of each
-- (event_type, client) does: the clients of the last 24 h are those seen since then.
CREATE TABLE pgcanary_private.health_last_seen (
    event_type text        NOT NULL,
    cliente_id uuid        NOT NULL,
    last_ts    timestamptz NOT NULL,
    PRIMARY KEY (event_type, cliente_id)
);
CREATE INDEX health_last_seen_ts_idx ON pgcanary_private.health_last_seen (last_ts, event_type);

-- The outbox's sent messages by the 5-minute bucket of sent_at (functions/health.sql,
-- outbox_counts): how many, how many to a client opted out at the time, how many repeated
-- an earlier one. The outbox, not the outbound_sent events, is the record of what was sent:
-- those events follow the business-events rollout (2% of the clients at phase 1).
CREATE TABLE pgcanary_private.health_outbox_rollup (
    bucket     timestamptz PRIMARY KEY,
    sent       bigint      NOT NULL CHECK (sent >= 0),
    leaks      bigint      NOT NULL CHECK (leaks >= 0),
    duplicates bigint      NOT NULL CHECK (duplicates >= 0)
);

-- Events inserted into buckets the rollup had already sealed (a backdated INSERT, a
-- transaction open for over an hour): listed here by a trigger, read with the rollup, folded
-- into it by the next refresh. Append-only, so concurrent writers never wait on a counter row.
CREATE TABLE pgcanary_private.health_late_events (
    event_id uuid        NOT NULL,
    ts       timestamptz NOT NULL,
    PRIMARY KEY (event_id, ts)
);

-- The rollup is complete for [covered_from, sealed_until), with health_late_events.
CREATE TABLE pgcanary_private.health_rollup_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    covered_from timestamptz,
    sealed_until timestamptz,
    refreshed_at timestamptz
);
INSERT INTO pgcanary_private.health_rollup_state (singleton) VALUES (true);

-- Q3 (replies without inbound proof) reads a handful of rows among every blocked send of the
-- day; this index holds exactly the rows of its predicate, for the seed's query as written too.
CREATE INDEX business_events_invalid_reply_idx ON public.business_events (ts)
    WHERE event_type IN ('outbound_blocked', 'outbound_bypass')
      AND (event_props ->> 'method') = 'reply'
      AND ((event_props ->> 'inbound_interaction_id') IS NULL OR conversation_id IS NULL);

-- Closed to the API before this migration commits (db/0000 says why).
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['public.rollout_plans', 'public.rollout_steps', 'public.rollout_prerequisites', 'public.rollout_history', 'public.incidents', 'pgcanary_private.health_rollup', 'pgcanary_private.health_last_seen', 'pgcanary_private.health_outbox_rollup', 'pgcanary_private.health_late_events', 'pgcanary_private.health_rollup_state']::regclass[]); END $$;
