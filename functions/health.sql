SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Health: the seed's daily panel (Q1-Q5) as views, the SLO panel, daily_health_volume() and
-- daily_health(), and the rollup that keeps them fast at 10M events. Seed 002: "Métricas de
-- Saúde", "SLOs para Decisão de Escala", "Painel Diário", "Job de Health Check".
-- Docs: docs/health.md. Tests: tests/sql/health.test.sql. The security views are in
-- functions/health_security.sql.

------------------------------------------------------------------------------------------
-- The seed's queries, verbatim, for the SQL Editor. They read the raw events (a million rows
-- a day for Q1): daily_health() gives the same answers from the rollup.
CREATE OR REPLACE VIEW public.health_q1_volume
WITH (security_invoker = true) AS
-- Q1: Sanity check - volume de eventos
SELECT
    event_type,
    COUNT(*) as total,
    COUNT(DISTINCT cliente_id) as clientes_unicos
FROM public.business_events
WHERE ts >= NOW() - INTERVAL '24 hours'
GROUP BY event_type
ORDER BY total DESC;
COMMENT ON VIEW public.health_q1_volume IS
    'Seed Q1 (painel diário): events and distinct clients per type in the last 24 h. outbound_fallback must be absent.';

CREATE OR REPLACE VIEW public.health_q2_guardrail_reasons
WITH (security_invoker = true) AS
-- Q2: Risco - motivos de bloqueio e bypass
SELECT
    event_type,
    event_props->>'block_reason' as razao,
    event_props->>'channel' as canal,
    event_props->>'method' as metodo,
    COUNT(*) as total
FROM public.business_events
WHERE event_type IN ('outbound_blocked', 'outbound_bypass')
  AND ts >= NOW() - INTERVAL '24 hours'
GROUP BY 1, 2, 3, 4
ORDER BY total DESC;
COMMENT ON VIEW public.health_q2_guardrail_reasons IS
    'Seed Q2: blocks and bypasses of the last 24 h by reason, channel and method. opted_out should lead the blocks; every bypass needs a bypass_reason.';

CREATE OR REPLACE VIEW public.health_q3_invalid_replies
WITH (security_invoker = true) AS
-- Q3: Bug detection - replies sem prova de inbound
SELECT
    ts,
    cliente_id,
    conversation_id,
    event_props->>'inbound_interaction_id' as inbound_id,
    event_props->>'block_reason' as razao
FROM public.business_events
WHERE event_type IN ('outbound_blocked', 'outbound_bypass')
  AND event_props->>'method' = 'reply'
  AND (
      event_props->>'inbound_interaction_id' IS NULL
      OR conversation_id IS NULL
  )
  AND ts >= NOW() - INTERVAL '24 hours'
ORDER BY ts DESC
LIMIT 20;
COMMENT ON VIEW public.health_q3_invalid_replies IS
    'Seed Q3: replies without inbound proof in the last 24 h (latest 20). Must be empty: rows mean a race or a pipeline bug.';

CREATE OR REPLACE VIEW public.health_q4_provider_errors
WITH (security_invoker = true) AS
-- Q4: Estabilidade - falhas de envio
SELECT
    DATE_TRUNC('hour', ts) as hora,
    event_props->>'block_reason' as razao,
    COUNT(*) as total
FROM public.business_events
WHERE event_type = 'outbound_blocked'
  AND event_props->>'block_reason' IN ('provider_error', 'timeout', 'circuit_open')
  AND ts >= NOW() - INTERVAL '24 hours'
GROUP BY 1, 2
ORDER BY 1 DESC;
COMMENT ON VIEW public.health_q4_provider_errors IS
    'Seed Q4: sends blocked by provider errors, timeouts or an open circuit, per hour of the last 24 h. Ideally empty; over 1% of the volume, look at Evolution and the network.';

CREATE OR REPLACE VIEW public.health_q5_fallbacks
WITH (security_invoker = true) AS
-- Q5: Migração - fallbacks legados usados
SELECT
    ts,
    event_props->>'function' as funcao,
    event_props->>'telefone_prefix' as telefone_prefix
FROM public.business_events
WHERE event_type = 'outbound_fallback'
  AND ts >= NOW() - INTERVAL '24 hours'
ORDER BY ts DESC;
COMMENT ON VIEW public.health_q5_fallbacks IS
    'Seed Q5: legacy fallbacks used in the last 24 h. Must be empty: rows name a call site not yet migrated to the sovereign guardrail.';

------------------------------------------------------------------------------------------
-- When was each client opted out? One interval per opt-out, from its change to the next change
-- of that client (or for ever), from opt_out_audit (every change, by any path). A function,
-- joined once per query, rather than opt_out_audit in the view below: a hash join instead of
-- a lookup per event, and the view does not pin opt_out_audit, so migration 0003 can be
-- rolled back and re-applied on its own.
CREATE OR REPLACE FUNCTION pgcanary_private.opt_out_intervals()
RETURNS TABLE (cliente_id uuid, opted_from timestamptz, opted_until timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT x.cliente_id, x.changed_at, coalesce(x.next_change, 'infinity')
    FROM (SELECT a.cliente_id, a.changed_at, a.new_opted_out,
                 lead(a.changed_at) OVER (PARTITION BY a.cliente_id ORDER BY a.changed_at, a.audit_id) AS next_change
          FROM public.opt_out_audit AS a) AS x
    WHERE x.new_opted_out
$$;

-- What the SLOs and Q1-Q4 need to know of each event, decided in one place: the rollup
-- refresh, the late rows and the live edges all read this view.
--   invalid_reply: Q3's predicate (a reply attempt, blocked or bypassed, without inbound proof)
--   to_opted_out:  a send that may have reached the client while the client was opted out:
--                  an unknown outcome, or a send, bypass or legacy fallback recorded by anyone
--                  but the outbox (the outbox's sends are counted from outbound_messages,
--                  because its outbound_sent events follow the business-events rollout)
--   sent_elsewhere: an outbound_sent event not written by the outbox, for the same reason
CREATE OR REPLACE VIEW pgcanary_private.health_event_facts
WITH (security_invoker = true) AS
SELECT e.event_id, e.ts, e.event_type, e.cliente_id,
       date_bin('5 minutes', e.ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       e.event_props ->> 'block_reason' AS block_reason,
       e.event_props ->> 'channel' AS channel,
       e.event_props ->> 'method' AS method,
       coalesce(e.event_type IN ('outbound_blocked', 'outbound_bypass') AND (e.event_props ->> 'method') = 'reply'
                AND ((e.event_props ->> 'inbound_interaction_id') IS NULL OR e.conversation_id IS NULL), false) AS invalid_reply,
       o.cliente_id IS NOT NULL AS to_opted_out,
       e.event_type = 'outbound_sent' AND e.source <> 'outbox' AS sent_elsewhere
FROM public.business_events AS e
LEFT JOIN pgcanary_private.opt_out_intervals() AS o
       ON (e.event_type = 'outbound_unknown_outcome'
           OR (e.event_type IN ('outbound_sent', 'outbound_bypass', 'outbound_fallback') AND e.source <> 'outbox'))
      AND o.cliente_id = e.cliente_id AND e.ts >= o.opted_from AND e.ts < o.opted_until;
REVOKE ALL ON pgcanary_private.health_event_facts FROM PUBLIC, anon, authenticated;
GRANT SELECT ON pgcanary_private.health_event_facts TO service_role;

------------------------------------------------------------------------------------------
-- The outbox's sent messages over [since, until), by the 5-minute bucket of sent_at: how
-- many (the denominator of provider_error_rate), how many went to a client opted out at
-- sent_at (outbound_to_opted_out), and how many repeat an earlier one (duplicatas_detectadas:
-- a sent message of the same client, method and template created less than 60 minutes
-- before it, the outbox's default dedupe window, or one carrying a provider message id an
-- earlier sent message had). Rows come through the outbox's BRIN index on sent_at; a
-- message created at most 60 minutes before b.created_at was sent after that.
CREATE OR REPLACE FUNCTION pgcanary_private.outbox_counts(since timestamptz, until timestamptz)
RETURNS TABLE (bucket timestamptz, sent bigint, leaks bigint, duplicates bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH b AS MATERIALIZED (
        SELECT m.id, m.cliente_id, m.method, coalesce(m.template_ref, '') AS template_ref, m.created_at,
               m.sent_at, m.provider_message_id
        FROM public.outbound_messages AS m
        WHERE m.status = 'sent' AND m.sent_at >= since AND m.sent_at < until),
    a AS MATERIALIZED (
        SELECT m.id, m.cliente_id, m.method, coalesce(m.template_ref, '') AS template_ref, m.created_at,
               m.sent_at, m.provider_message_id
        FROM public.outbound_messages AS m
        WHERE m.status = 'sent' AND m.sent_at < until
          AND m.sent_at >= (SELECT min(b.created_at) - interval '60 minutes' FROM b)),
    -- Two semi-joins rather than one WHERE with OR: an OR of EXISTS is run per row.
    dup AS (
        SELECT b.id FROM b
        WHERE EXISTS (SELECT 1 FROM a
                      WHERE a.cliente_id = b.cliente_id AND a.method = b.method AND a.template_ref = b.template_ref
                        AND a.id <> b.id AND a.created_at > b.created_at - interval '60 minutes'
                        AND (a.created_at, a.id) < (b.created_at, b.id))
        UNION
        SELECT b.id FROM b
        WHERE b.provider_message_id IS NOT NULL
          AND EXISTS (SELECT 1 FROM a WHERE a.provider_message_id = b.provider_message_id
                                        AND (a.sent_at, a.id) < (b.sent_at, b.id))),
    leak AS (
        SELECT DISTINCT b.id FROM b
        JOIN pgcanary_private.opt_out_intervals() AS o
          ON o.cliente_id = b.cliente_id AND b.sent_at >= o.opted_from AND b.sent_at < o.opted_until)
    SELECT date_bin('5 minutes', b.sent_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), count(*),
           count(*) FILTER (WHERE b.id IN (SELECT leak.id FROM leak)),
           count(*) FILTER (WHERE b.id IN (SELECT dup.id FROM dup))
    FROM b
    GROUP BY 1
$$;

------------------------------------------------------------------------------------------
-- The rollup: closed 5-minute buckets of the last 8 days (the longest stability window is 7
-- days). refresh_health_rollup recounts the last hour it sealed every time, so a transaction
-- that set ts before a seal and committed after it is counted on the next run; a row inserted
-- into a sealed bucket (a backdated INSERT) is listed in health_late_events by the trigger
-- below, read with the rollup and folded into it by the next refresh. The advisory lock keeps
-- the two from interleaving: writers take it shared (they never wait for each other), the
-- refresh only try-locks it exclusively (it never queues writers; it runs next time).
CREATE OR REPLACE FUNCTION pgcanary_private.health_rollup_lock_key()
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 7062636172790005::bigint $$;

CREATE OR REPLACE FUNCTION public.refresh_health_rollup(rebuild boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_seal  constant timestamptz := date_bin('5 minutes', now() - interval '1 minute', TIMESTAMPTZ '2000-01-01 00:00:00+00');
    keep_from constant timestamptz := date_bin('5 minutes', now() - interval '8 days', TIMESTAMPTZ '2000-01-01 00:00:00+00');
    st        pgcanary_private.health_rollup_state;
    from_     timestamptz;
    rebuilt   boolean;
    counted   bigint;
BEGIN
    IF NOT pg_catalog.pg_try_advisory_xact_lock(pgcanary_private.health_rollup_lock_key()) THEN
        RETURN jsonb_build_object('refreshed', false, 'reason', 'a backdated insert or another refresh holds the rollup lock');
    END IF;
    SELECT s.* INTO st FROM pgcanary_private.health_rollup_state AS s FOR UPDATE;
    rebuilt := coalesce(refresh_health_rollup.rebuild, false)
               OR st.sealed_until IS NULL OR st.covered_from IS NULL OR st.sealed_until < keep_from;
    IF rebuilt THEN
        from_ := keep_from;
        DELETE FROM pgcanary_private.health_rollup;
        DELETE FROM pgcanary_private.health_last_seen;
        DELETE FROM pgcanary_private.health_outbox_rollup;
        DELETE FROM pgcanary_private.health_late_events;
    ELSE
        from_ := greatest(keep_from, least(st.sealed_until, new_seal) - interval '1 hour');
        DELETE FROM pgcanary_private.health_rollup AS r WHERE r.bucket >= from_ OR r.bucket < keep_from;
        DELETE FROM pgcanary_private.health_outbox_rollup AS r WHERE r.bucket >= from_ OR r.bucket < keep_from;
    END IF;
    INSERT INTO pgcanary_private.health_outbox_rollup (bucket, sent, leaks, duplicates)
    SELECT d.bucket, d.sent, d.leaks, d.duplicates FROM pgcanary_private.outbox_counts(from_, new_seal) AS d;
    INSERT INTO pgcanary_private.health_rollup
        (bucket, event_type, block_reason, channel, method, invalid_reply, to_opted_out, sent_elsewhere, events)
    SELECT f.bucket, f.event_type, f.block_reason, f.channel, f.method, f.invalid_reply, f.to_opted_out, f.sent_elsewhere,
           count(*)
    FROM pgcanary_private.health_event_facts AS f
    WHERE f.ts >= from_ AND f.ts < new_seal
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
    SELECT coalesce(sum(r.events), 0) INTO counted FROM pgcanary_private.health_rollup AS r WHERE r.bucket >= from_;
    INSERT INTO pgcanary_private.health_last_seen AS s (event_type, cliente_id, last_ts)
    SELECT e.event_type, e.cliente_id, max(e.ts)
    FROM public.business_events AS e
    WHERE e.ts >= greatest(from_, now() - interval '25 hours') AND e.ts < new_seal AND e.cliente_id IS NOT NULL
    GROUP BY 1, 2
    ON CONFLICT (event_type, cliente_id) DO UPDATE SET last_ts = greatest(s.last_ts, EXCLUDED.last_ts);
    -- Late rows the recount did not cover join their buckets; the others were just recounted.
    INSERT INTO pgcanary_private.health_rollup AS r
        (bucket, event_type, block_reason, channel, method, invalid_reply, to_opted_out, sent_elsewhere, events)
    SELECT f.bucket, f.event_type, f.block_reason, f.channel, f.method, f.invalid_reply, f.to_opted_out, f.sent_elsewhere,
           count(*)
    FROM pgcanary_private.health_late_events AS l
    JOIN pgcanary_private.health_event_facts AS f ON f.event_id = l.event_id AND f.ts = l.ts
    WHERE l.ts >= keep_from AND l.ts < from_
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (bucket, event_type, block_reason, channel, method, invalid_reply, to_opted_out, sent_elsewhere)
    DO UPDATE SET events = r.events + EXCLUDED.events;
    INSERT INTO pgcanary_private.health_last_seen AS s (event_type, cliente_id, last_ts)
    SELECT e.event_type, e.cliente_id, max(e.ts)
    FROM pgcanary_private.health_late_events AS l
    JOIN public.business_events AS e ON e.event_id = l.event_id AND e.ts = l.ts
    WHERE l.ts >= now() - interval '25 hours' AND l.ts < from_ AND e.cliente_id IS NOT NULL
    GROUP BY 1, 2
    ON CONFLICT (event_type, cliente_id) DO UPDATE SET last_ts = greatest(s.last_ts, EXCLUDED.last_ts);
    DELETE FROM pgcanary_private.health_late_events;
    DELETE FROM pgcanary_private.health_last_seen AS s WHERE s.last_ts < now() - interval '25 hours';
    UPDATE pgcanary_private.health_rollup_state
       SET covered_from = CASE WHEN rebuilt THEN keep_from ELSE greatest(covered_from, keep_from) END,
           sealed_until = new_seal, refreshed_at = clock_timestamp();
    RETURN jsonb_build_object('refreshed', true, 'rebuilt', rebuilt, 'recounted_from', from_,
                              'sealed_until', new_seal, 'events_recounted', counted);
END
$$;
COMMENT ON FUNCTION public.refresh_health_rollup(boolean) IS
    'Scheduler job (every minute): counts closed 5-minute buckets of business events (and outbox duplicates) into the health rollup that daily_health, the SLO panel and rollout_gate read; recounts the last hour each time. rebuild => true recounts the last 8 days (after a bulk load of backdated rows). Without it the panel stays exact, only slower. Returns {refreshed, rebuilt, recounted_from, sealed_until, events_recounted}.';

-- A backdated event (its ts more than 5 minutes before its insert) may fall in a bucket the
-- refresh has sealed and will not recount: it is noted in health_late_events. Called by
-- business_events' insert trigger function (functions/events.sql), which already sends
-- every backdated row of a raw INSERT to plpgsql; rows of the event RPCs are never
-- backdated. It was a trigger of its own until the event fast path (db/0006): a second row
-- trigger on business_events cost ~3% of a one-row emit_event.
DROP TRIGGER IF EXISTS business_events_health_late ON public.business_events;
DROP FUNCTION IF EXISTS pgcanary_private.business_events_health_late();
CREATE OR REPLACE FUNCTION pgcanary_private.note_health_late(event_id uuid, ts timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st pgcanary_private.health_rollup_state;
BEGIN
    SELECT s.* INTO st FROM pgcanary_private.health_rollup_state AS s;
    IF st.sealed_until IS NULL OR note_health_late.ts >= st.sealed_until OR note_health_late.ts < st.covered_from THEN
        RETURN;  -- the next refresh counts it, or no window reaches it
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(pgcanary_private.health_rollup_lock_key());
    INSERT INTO pgcanary_private.health_late_events (event_id, ts) VALUES (note_health_late.event_id, note_health_late.ts);
END
$$;

-- The part of [since, until) the rollup serves: whole 5-minute buckets from covered_from up
-- to the seal. lo and hi are NULL (or lo >= hi) when the rollup cannot serve any of it, and
-- the caller then counts everything live. Shared by health_counts and health_outbox_totals.
CREATE OR REPLACE FUNCTION pgcanary_private.health_rollup_window(since timestamptz, until timestamptz,
                                                                  OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    epoch constant timestamptz := TIMESTAMPTZ '2000-01-01 00:00:00+00';
    st    pgcanary_private.health_rollup_state;
BEGIN
    SELECT s.* INTO st FROM pgcanary_private.health_rollup_state AS s;
    IF st.sealed_until IS NULL THEN
        RETURN;
    END IF;
    lo := date_bin('5 minutes', health_rollup_window.since, epoch);
    IF lo < health_rollup_window.since THEN
        lo := lo + interval '5 minutes';
    END IF;
    lo := greatest(lo, st.covered_from);
    hi := least(CASE WHEN isfinite(health_rollup_window.until) THEN date_bin('5 minutes', health_rollup_window.until, epoch) END,
                st.sealed_until);
END
$$;

-- The rollup's rows for [since, until): closed buckets from the rollup, the edges (before the
-- first whole bucket, after the seal) counted live. Without a usable rollup, all live.
CREATE OR REPLACE FUNCTION pgcanary_private.health_counts(since timestamptz, until timestamptz)
RETURNS SETOF pgcanary_private.health_rollup
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lo timestamptz;
    hi timestamptz;
BEGIN
    SELECT w.lo, w.hi INTO lo, hi FROM pgcanary_private.health_rollup_window(health_counts.since, health_counts.until) AS w;
    IF lo IS NULL OR hi IS NULL OR lo >= hi THEN
        RETURN QUERY
        SELECT f.bucket, f.event_type, f.block_reason, f.channel, f.method, f.invalid_reply, f.to_opted_out,
               f.sent_elsewhere, count(*)
        FROM pgcanary_private.health_event_facts AS f
        WHERE f.ts >= health_counts.since AND f.ts < health_counts.until
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT f.bucket, f.event_type, f.block_reason, f.channel, f.method, f.invalid_reply, f.to_opted_out,
           f.sent_elsewhere, count(*)
    FROM pgcanary_private.health_event_facts AS f
    WHERE f.ts >= health_counts.since AND f.ts < lo
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    UNION ALL
    SELECT r.* FROM pgcanary_private.health_rollup AS r WHERE r.bucket >= lo AND r.bucket < hi
    UNION ALL
    SELECT f.bucket, f.event_type, f.block_reason, f.channel, f.method, f.invalid_reply, f.to_opted_out,
           f.sent_elsewhere, count(*)
    FROM pgcanary_private.health_late_events AS l
    JOIN pgcanary_private.health_event_facts AS f ON f.event_id = l.event_id AND f.ts = l.ts
    WHERE l.ts >= lo AND l.ts < hi
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    UNION ALL
    SELECT f.bucket, f.event_type, f.block_reason, f.channel, f.method, f.invalid_reply, f.to_opted_out,
           f.sent_elsewhere, count(*)
    FROM pgcanary_private.health_event_facts AS f
    WHERE f.ts >= hi AND f.ts < health_counts.until
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
END
$$;

-- The outbox's counts over [since, until): closed buckets from the rollup, the edges live.
CREATE OR REPLACE FUNCTION pgcanary_private.health_outbox_totals(since timestamptz, until timestamptz)
RETURNS TABLE (sent bigint, leaks bigint, duplicates bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lo timestamptz;
    hi timestamptz;
BEGIN
    SELECT w.lo, w.hi INTO lo, hi FROM pgcanary_private.health_rollup_window(health_outbox_totals.since, health_outbox_totals.until) AS w;
    IF lo IS NULL OR hi IS NULL OR lo >= hi THEN
        RETURN QUERY SELECT coalesce(sum(d.sent), 0)::bigint, coalesce(sum(d.leaks), 0)::bigint, coalesce(sum(d.duplicates), 0)::bigint
                     FROM pgcanary_private.outbox_counts(since, until) AS d;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT coalesce(sum(x.sent), 0)::bigint, coalesce(sum(x.leaks), 0)::bigint, coalesce(sum(x.duplicates), 0)::bigint
    FROM (SELECT d.sent, d.leaks, d.duplicates FROM pgcanary_private.outbox_counts(since, lo) AS d
          UNION ALL
          SELECT r.sent, r.leaks, r.duplicates FROM pgcanary_private.health_outbox_rollup AS r
          WHERE r.bucket >= lo AND r.bucket < hi
          UNION ALL
          SELECT d.sent, d.leaks, d.duplicates FROM pgcanary_private.outbox_counts(hi, until) AS d) AS x;
END
$$;

------------------------------------------------------------------------------------------
-- The SLOs (seed 002, "SLOs para Decisão de Escala"), over any period.
--   OUTBOUND_FALLBACK       outbound_fallback events                                      = 0
--   invalid_reply_attempts  reply attempts without inbound proof (Q3's predicate)         = 0
--   outbound_to_opted_out   sends that may have reached a client opted out at the time:   = 0
--                           the outbox's sent messages, unknown outcomes, and sends,
--                           bypasses and legacy fallbacks recorded outside the outbox
--   provider_error_rate     failures / attempts, in percent                               < 1%
--                           failures: outbound_failed and outbound_unknown_outcome (always
--                           recorded by the outbox) and Q4's blocks (provider_error, timeout,
--                           circuit_open); attempts: those plus the outbox's sent messages and
--                           outbound_sent events recorded outside the outbox
--   duplicatas_detectadas   repeated sends found in the outbox (outbox_counts)            = 0
-- One pass over the period's counts (some 50,000 bucket rows for a 7-day gate at a million
-- events a day): five sums, no grouping.
CREATE OR REPLACE FUNCTION pgcanary_private.slo_values(since timestamptz, until timestamptz)
RETURNS TABLE (ord integer, slo text, value numeric, threshold text, status text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH ev AS (
        SELECT coalesce(sum(c.events) FILTER (WHERE c.event_type = 'outbound_fallback'), 0) AS fallback,
               coalesce(sum(c.events) FILTER (WHERE c.invalid_reply), 0) AS invalid,
               coalesce(sum(c.events) FILTER (WHERE c.to_opted_out), 0) AS leaks,
               coalesce(sum(c.events) FILTER (WHERE c.event_type IN ('outbound_failed', 'outbound_unknown_outcome')
                   OR (c.event_type = 'outbound_blocked' AND c.block_reason IN ('provider_error', 'timeout', 'circuit_open'))), 0) AS errors,
               coalesce(sum(c.events) FILTER (WHERE c.sent_elsewhere), 0) AS sent
        FROM pgcanary_private.health_counts(since, until) AS c),
    agg AS (
        SELECT ev.fallback, ev.invalid, ev.leaks + ob.leaks AS leaks, ev.errors, ev.sent + ob.sent AS sent, ob.duplicates
        FROM ev CROSS JOIN pgcanary_private.health_outbox_totals(since, until) AS ob)
    SELECT 1, 'OUTBOUND_FALLBACK', fallback, '= 0', CASE WHEN fallback = 0 THEN 'OK' ELSE 'ALERT' END,
           'legacy fallback sends (Q5): a call site not migrated' FROM agg
    UNION ALL
    SELECT 2, 'invalid_reply_attempts', invalid, '= 0', CASE WHEN invalid = 0 THEN 'OK' ELSE 'ALERT' END,
           'replies without inbound proof (Q3): a race or a pipeline bug' FROM agg
    UNION ALL
    SELECT 3, 'outbound_to_opted_out', leaks, '= 0', CASE WHEN leaks = 0 THEN 'OK' ELSE 'ALERT' END,
           'sends to clients opted out at the time: critical, the guard rolls back' FROM agg
    UNION ALL
    SELECT 4, 'provider_error_rate', coalesce(round(100.0 * errors / nullif(sent + errors, 0), 2), 0), '< 1%',
           CASE WHEN coalesce(100.0 * errors / nullif(sent + errors, 0), 0) < 1 THEN 'OK' ELSE 'ALERT' END,
           format('%s provider failures / %s send attempts', errors, sent + errors) FROM agg
    UNION ALL
    SELECT 5, 'duplicatas_detectadas', duplicates, '= 0', CASE WHEN duplicates = 0 THEN 'OK' ELSE 'ALERT' END,
           'outbox messages sent twice to one client, method and template within 60 minutes' FROM agg
$$;

CREATE OR REPLACE VIEW public.health_slo_panel
WITH (security_invoker = true) AS
SELECT s.slo, s.value, s.threshold, s.status, s.detail,
       now() - interval '24 hours' AS since
FROM pgcanary_private.slo_values(now() - interval '24 hours', 'infinity') AS s
ORDER BY s.ord;
COMMENT ON VIEW public.health_slo_panel IS
    'The seed''s SLOs over the last 24 h, one row each with value, threshold and status OK / ALERT: OUTBOUND_FALLBACK = 0, invalid_reply_attempts = 0, outbound_to_opted_out = 0, provider_error_rate < 1%, duplicatas_detectadas = 0.';

------------------------------------------------------------------------------------------
-- Q1's COUNT(DISTINCT cliente_id) per type since a moment of the last 25 h: the clients whose
-- latest event of the type is that recent, as health_last_seen knows them (complete before
-- the seal), plus the clients of the live tail and of late rows it does not know.
CREATE OR REPLACE FUNCTION pgcanary_private.health_clients(since timestamptz)
RETURNS TABLE (event_type text, clientes bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sealed timestamptz := (SELECT s.sealed_until FROM pgcanary_private.health_rollup_state AS s);
BEGIN
    IF sealed IS NULL OR health_clients.since < now() - interval '25 hours' THEN
        RETURN QUERY
        SELECT e.event_type, count(DISTINCT e.cliente_id)
        FROM public.business_events AS e WHERE e.ts >= health_clients.since GROUP BY 1;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT x.event_type, sum(x.n)::bigint
    FROM (SELECT s.event_type, count(*) AS n
          FROM pgcanary_private.health_last_seen AS s
          WHERE s.last_ts >= health_clients.since
          GROUP BY 1
          UNION ALL
          SELECT t.event_type, count(DISTINCT t.cliente_id)
          FROM (SELECT e.event_type, e.cliente_id FROM public.business_events AS e
                WHERE e.ts >= greatest(sealed, health_clients.since)
                UNION ALL
                SELECT e.event_type, e.cliente_id
                FROM pgcanary_private.health_late_events AS l
                JOIN public.business_events AS e ON e.event_id = l.event_id AND e.ts = l.ts
                WHERE l.ts >= health_clients.since) AS t
          WHERE t.cliente_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM pgcanary_private.health_last_seen AS s
                            WHERE s.event_type = t.event_type AND s.cliente_id = t.cliente_id
                              AND s.last_ts >= health_clients.since)
          GROUP BY 1) AS x
    GROUP BY 1;
END
$$;

-- The seed's job calls supabase.rpc("daily_health_volume"): Q1's rows, from the rollup.
CREATE OR REPLACE FUNCTION public.daily_health_volume()
RETURNS TABLE (event_type text, total bigint, clientes_unicos bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.event_type, t.total, coalesce(d.clientes, 0)::bigint
    FROM (SELECT c.event_type, sum(c.events)::bigint AS total
          FROM pgcanary_private.health_counts(now() - interval '24 hours', 'infinity') AS c GROUP BY 1) AS t
    LEFT JOIN pgcanary_private.health_clients(now() - interval '24 hours') AS d ON d.event_type = t.event_type
    ORDER BY t.total DESC, t.event_type
$$;
COMMENT ON FUNCTION public.daily_health_volume() IS
    'Seed Q1 as the RPC the seed''s health job calls: event_type, total, clientes_unicos for the last 24 h, biggest first. Same rows as health_q1_volume, from the health rollup.';

-- The whole daily panel in one call (the seed's check_daily_health, done in the database).
CREATE OR REPLACE FUNCTION public.daily_health()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    since    constant timestamptz := now() - interval '24 hours';
    counts   pgcanary_private.health_rollup[];
    slos     jsonb;
    alerts   jsonb;
    security jsonb;
    findings bigint;
BEGIN
    counts := ARRAY(SELECT c FROM pgcanary_private.health_counts(since, 'infinity') AS c);
    SELECT jsonb_agg(jsonb_build_object('slo', s.slo, 'value', s.value, 'threshold', s.threshold,
                                        'status', s.status, 'detail', s.detail) ORDER BY s.ord),
           coalesce(jsonb_agg(format('%s = %s (threshold %s)', s.slo, coalesce(s.value::text, 'n/a'), s.threshold))
                    FILTER (WHERE s.status <> 'OK'), '[]')
      INTO slos, alerts
    FROM pgcanary_private.slo_values(since, 'infinity') AS s;
    SELECT count(*), coalesce(jsonb_agg(to_jsonb(h) ORDER BY h.check_name, h.object_name) FILTER (WHERE h.n <= 20), '[]')
      INTO findings, security
    FROM (SELECT a.*, row_number() OVER () AS n FROM public.health_security_all AS a) AS h;
    IF findings > 0 THEN
        alerts := alerts || to_jsonb(format('security: %s finding(s) in health_security_all', findings));
    END IF;
    RETURN jsonb_build_object(
        'status', CASE WHEN jsonb_array_length(alerts) = 0 THEN 'OK' ELSE 'ALERT' END,
        'alerts', alerts,
        'generated_at', now(),
        'since', since,
        'slos', slos,
        'volume', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('event_type', t.event_type, 'total', t.total,
                                                         'clientes_unicos', coalesce(d.clientes, 0))
                                      ORDER BY t.total DESC, t.event_type), '[]')
            FROM (SELECT c.event_type, sum(c.events)::bigint AS total FROM unnest(counts) AS c GROUP BY 1) AS t
            LEFT JOIN pgcanary_private.health_clients(since) AS d ON d.event_type = t.event_type),
        'guardrail_reasons', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('event_type', q.event_type, 'razao', q.block_reason,
                                                         'canal', q.channel, 'metodo', q.method, 'total', q.total)
                                      ORDER BY q.total DESC, q.event_type, q.block_reason, q.channel, q.method), '[]')
            FROM (SELECT c.event_type, c.block_reason, c.channel, c.method, sum(c.events)::bigint AS total
                  FROM unnest(counts) AS c WHERE c.event_type IN ('outbound_blocked', 'outbound_bypass')
                  GROUP BY 1, 2, 3, 4) AS q),
        'invalid_replies', (SELECT coalesce(jsonb_agg(to_jsonb(q)), '[]') FROM public.health_q3_invalid_replies AS q),
        -- Hygiene, not an alert (functions/stale_flags.sql).
        'stale_flags', (SELECT coalesce(jsonb_agg(to_jsonb(q)), '[]') FROM public.health_stale_flags AS q),
        'provider_errors', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('hora', q.hora, 'razao', q.razao, 'total', q.total)
                                      ORDER BY q.hora DESC, q.razao), '[]')
            FROM (SELECT date_trunc('hour', c.bucket) AS hora, c.block_reason AS razao, sum(c.events)::bigint AS total
                  FROM unnest(counts) AS c
                  WHERE c.event_type = 'outbound_blocked' AND c.block_reason IN ('provider_error', 'timeout', 'circuit_open')
                  GROUP BY 1, 2) AS q),
        'fallbacks', (SELECT coalesce(jsonb_agg(to_jsonb(q)), '[]')
                      FROM (SELECT * FROM public.health_q5_fallbacks LIMIT 20) AS q),
        'fallbacks_total', (SELECT coalesce(sum(c.events), 0) FROM unnest(counts) AS c WHERE c.event_type = 'outbound_fallback'),
        'security_findings', findings,
        'security', security);
END
$$;
COMMENT ON FUNCTION public.daily_health() IS
    'The daily panel as jsonb: {status OK|ALERT, alerts[failing lines], generated_at, since, slos[{slo, value, threshold, status, detail}], volume (Q1), guardrail_reasons (Q2), invalid_replies (Q3, latest 20), provider_errors (Q4), fallbacks (Q5, latest 20), fallbacks_total, security_findings, security (first 20 of health_security_all)}. ALERT when an SLO fails or a security view is not empty.';

DO $$
DECLARE
    v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['health_q1_volume', 'health_q2_guardrail_reasons', 'health_q3_invalid_replies',
                             'health_q4_provider_errors', 'health_q5_fallbacks', 'health_slo_panel'] LOOP
        EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC, anon, authenticated', v);
        EXECUTE format('GRANT SELECT ON public.%I TO service_role', v);
    END LOOP;
END
$$;

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.refresh_health_rollup(boolean)', 'public.daily_health_volume()', 'public.daily_health()'
]::regprocedure[]);
