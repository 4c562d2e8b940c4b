SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Outbox: dedupe (seed 002, gap C1), claiming with leases, outcome reports, reconciliation
-- of unknown outcomes, metrics. Docs: docs/outbox.md. Tests: tests/sql/outbox.test.sql,
-- tests/py/test_outbox*.py.
--
-- Status machine (enforced by a trigger for every path, raw SQL included):
--   queued  -> sending (outbox_claim) | sent, failed (the seed's flow: the caller sends itself)
--   sending -> sent | failed | unknown | queued (retryable failure, release)
--   unknown -> sent | failed | queued (operator: outbox_resolve; or a late report)
--   sent and failed are final: a sent message never goes back.
-- An unknown outcome (timeout after the request left, a worker that died mid-send) is never
-- resent automatically: only an operator's outbox_resolve(..., 'requeue', reason) does it.
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC030 invalid outbox argument   PC031 outbound message not found
--   PC032 status change not allowed

-- The seed's key for every hour that [at - minutes, at] touches, the hour of `at` first: the
-- one place the key is written out. 0 minutes gives the key of `at` alone. plpgsql so its
-- plan is kept for the session (a SQL function is planned on every call, bench/README.md).
CREATE OR REPLACE FUNCTION pgcanary_private.dedupe_keys(scope text, at timestamptz, minutes integer)
RETURNS text[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ARRAY(SELECT left(encode(sha256(convert_to(scope || to_char(h, 'YYYYMMDDHH24'), 'UTF8')), 'hex'), 32)
                   FROM generate_series(date_trunc('hour', at AT TIME ZONE 'UTC'),
                                        date_trunc('hour', (at - make_interval(mins => minutes)) AT TIME ZONE 'UTC'),
                                        interval '-1 hour') AS h);
END
$$;

------------------------------------------------------------------------------------------
-- The seed's key: sha256("cliente:method:template_or_none:YYYYMMDDHH" in UTC), first 32 hex
-- characters, byte for byte as its Python computes it (`template_ref or 'none'` also turns
-- '' into 'none'). Written out once, in pgcanary_private.dedupe_keys above.
CREATE OR REPLACE FUNCTION public.gerar_dedupe_key(cliente_id uuid, method text, template_ref text DEFAULT NULL,
                                                   at timestamptz DEFAULT now())
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cliente_id IS NULL OR method IS NULL OR at IS NULL THEN
        RAISE EXCEPTION 'gerar_dedupe_key needs cliente_id, method and at, got %, %, %',
                        coalesce(cliente_id::text, 'null'), coalesce(quote_literal(pgcanary_private.excerpt(method)), 'null'), coalesce(at::text, 'null')
            USING ERRCODE = 'PC030', HINT = 'For example gerar_dedupe_key(cliente_id => ''<uuid>'', method => ''campaign'', template_ref => ''vaga-123'').';
    END IF;
    IF NOT isfinite(at) THEN  -- the key names an hour; infinity has none (and would loop)
        RAISE EXCEPTION 'gerar_dedupe_key: at must be a finite time, got %', at
            USING ERRCODE = 'PC030', HINT = 'Pass the send time, or omit at for now().';
    END IF;
    RETURN (pgcanary_private.dedupe_keys(
        cliente_id::text || ':' || method || ':' || coalesce(nullif(template_ref, ''), 'none') || ':', at, 0))[1];
END
$$;
COMMENT ON FUNCTION public.gerar_dedupe_key(uuid, text, text, timestamptz) IS
    'Seed 002 dedupe key: first 32 hex chars of sha256(cliente_id:method:template_ref or none:YYYYMMDDHH in UTC). Same bytes as the seed''s Python.';

------------------------------------------------------------------------------------------
-- Enqueue with dedupe. The rule: a message is refused when the same (client, method,
-- template) has a message that is still pending (queued, sending, unknown), or was sent,
-- in the last dedupe_minutes (default 60). 10:59 and 11:01 are 2 minutes apart: refused,
-- although the seed's hourly keys differ.
--
-- How: those messages are found through the UNIQUE dedupe_key, by computing the seed's key
-- for every hour the window touches (two for 60 minutes), so no extra index is written on
-- every status change. Exact under concurrent callers: a transaction-scoped advisory lock
-- on (client, method, template) serialises callers of one scope, and the lookup runs after
-- it in a statement whose snapshot sees what the previous holder committed (READ COMMITTED,
-- as PostgREST and our pool run). The UNIQUE key stays as the last line of defence.
CREATE OR REPLACE FUNCTION public.pode_enviar_com_dedupe(cliente_id uuid, method text, template_ref text DEFAULT NULL,
                                                         payload jsonb DEFAULT NULL, conversation_id uuid DEFAULT NULL,
                                                         dedupe_minutes integer DEFAULT 60)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    scope  text;
    at     timestamptz;
    key    text;
    keys   text[];
    new_id uuid;
    other  uuid;
BEGIN
    IF cliente_id IS NULL THEN
        RAISE EXCEPTION 'cliente_id is required' USING ERRCODE = 'PC030', HINT = 'Pass the client''s UUID.';
    END IF;
    IF method IS NULL OR method !~ '^[a-z][a-z0-9_]{0,39}$' THEN
        RAISE EXCEPTION 'method must be a lowercase name such as campaign, followup or reply, got %', coalesce(quote_literal(pgcanary_private.excerpt(method)), 'null')
            USING ERRCODE = 'PC030', HINT = 'Letters, digits and underscores, starting with a letter, at most 40.';
    END IF;
    -- A misspelled method would be queued and then cancelled by the guardrail at send time:
    -- refused here, while the caller is still there to fix it.
    IF NOT EXISTS (SELECT FROM public.outbound_methods AS m WHERE m.method = pode_enviar_com_dedupe.method) THEN
        RAISE EXCEPTION 'unknown outbound method: %', quote_literal(pgcanary_private.excerpt(method))
            USING ERRCODE = 'PC021', HINT = 'Use a method of outbound_methods (reply, followup, campaign, handoff) or register it there first.';
    END IF;
    IF dedupe_minutes IS NULL OR dedupe_minutes NOT BETWEEN 1 AND 10080 THEN
        RAISE EXCEPTION 'dedupe_minutes must be from 1 to 10080 (a week), got %', coalesce(dedupe_minutes::text, 'null')
            USING ERRCODE = 'PC030', HINT = 'The default window is 60 minutes.';
    END IF;
    -- A payload is what the worker sends: Evolution API sendText's number and text. The
    -- error never echoes the number (PII).
    IF payload IS NOT NULL AND (jsonb_typeof(payload) <> 'object'
            OR jsonb_typeof(payload -> 'number') IS DISTINCT FROM 'string'
            OR payload ->> 'number' !~ '^\+?[0-9]{10,15}$'
            OR jsonb_typeof(payload -> 'text') IS DISTINCT FROM 'string'
            OR btrim(payload ->> 'text') = '') THEN
        RAISE EXCEPTION 'payload must be an object with "number" (10 to 15 digits) and a non-empty "text"'
            USING ERRCODE = 'PC030',
                  HINT = 'For example {"number": "5511999999999", "text": "Olá!"}; pass no payload when you send the message yourself.';
    END IF;
    -- WhatsApp takes at most 4096 characters of text: longer would fail at send time, after
    -- the caller is gone. The whole payload (text and provider options) is kept to 16 kB.
    IF char_length(payload ->> 'text') > 4096 OR pg_column_size(payload) > 16384 THEN
        RAISE EXCEPTION 'payload: % characters of text, % bytes in all; the limits are 4096 and 16384',
                        char_length(payload ->> 'text'), pg_column_size(payload)
            USING ERRCODE = 'PC070', HINT = 'Split a long message in two sends with different template_ref values.';
    END IF;
    scope := cliente_id::text || ':' || method || ':' || coalesce(nullif(template_ref, ''), 'none') || ':';
    PERFORM pg_advisory_xact_lock(hashtextextended(scope, 4242));
    -- One clock read, after the lock, for the keys, the window and created_at: now() is when
    -- this transaction began, which can be before the previous holder's, in an earlier hour
    -- whose keys would miss the message it queued (tests/py/test_dedupe_clock.py).
    at := clock_timestamp();
    keys := pgcanary_private.dedupe_keys(scope, at, dedupe_minutes);
    key := keys[1];
    SELECT m.id INTO other FROM public.outbound_messages AS m
     WHERE m.dedupe_key = ANY (keys) AND m.status NOT IN ('failed', 'cancelled')
       AND (m.status <> 'sent' OR m.created_at > at - make_interval(mins => dedupe_minutes))
     LIMIT 1;
    IF other IS NULL THEN
        INSERT INTO public.outbound_messages (dedupe_key, cliente_id, conversation_id, method, template_ref, payload, created_at)
        VALUES (key, pode_enviar_com_dedupe.cliente_id, pode_enviar_com_dedupe.conversation_id, pode_enviar_com_dedupe.method,
                pode_enviar_com_dedupe.template_ref, pode_enviar_com_dedupe.payload, at)
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING id INTO new_id;
        IF new_id IS NOT NULL THEN
            RETURN jsonb_build_object('pode_enviar', true, 'motivo', NULL, 'dedupe_key', key, 'message_id', new_id);
        END IF;
        -- This hour's key belongs to a failed message, or to one sent before a shorter
        -- window: the seed's UNIQUE key refuses it all the same.
        SELECT m.id INTO other FROM public.outbound_messages AS m WHERE m.dedupe_key = key;
    END IF;
    RETURN jsonb_build_object('pode_enviar', false, 'motivo', 'duplicata', 'dedupe_key', key, 'message_id', NULL,
                              'duplicate_of', other);
END
$$;
COMMENT ON FUNCTION public.pode_enviar_com_dedupe(uuid, text, text, jsonb, uuid, integer) IS
    'Seed 002 dedupe, made exact: queues the message and returns {pode_enviar: true, motivo: null, dedupe_key, message_id}, or refuses it with {pode_enviar: false, motivo: "duplicata", duplicate_of} when the same (cliente_id, method, template_ref) is inside a live dedupe window (dedupe_minutes, default 60, across hour boundaries) or has the same dedupe_key. With a payload {number, text} the worker sends it; without one the caller sends and reports with marcar_enviado / marcar_falha.';

------------------------------------------------------------------------------------------
-- Claiming. Due queued messages with a payload, oldest first; SKIP LOCKED so workers never
-- wait for each other or claim the same row. Each claim counts as an attempt.
CREATE OR REPLACE FUNCTION public.outbox_claim(worker_id text, batch_size integer, lease_seconds integer)
RETURNS TABLE (id uuid, dedupe_key text, cliente_id uuid, conversation_id uuid, method text, template_ref text,
               payload jsonb, attempts integer, lease_expires_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF worker_id IS NULL OR btrim(worker_id) = '' OR length(worker_id) > 200 OR worker_id ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'worker_id must be 1 to 200 printable characters, got %', coalesce(quote_literal(pgcanary_private.excerpt(worker_id)), 'null')
            USING ERRCODE = 'PC030', HINT = 'Name the worker, for example its host and pid: ''web-1:4242''.';
    END IF;
    PERFORM pgcanary_private.refuse_phone_in_key('worker_id', worker_id,  -- stored as lease_owner
        'Name the worker, for example its host and pid: ''web-1:4242''.');
    IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'batch_size must be from 1 to 1000, got %', coalesce(batch_size::text, 'null')
            USING ERRCODE = 'PC030', HINT = 'The worker claims 50 by default.';
    END IF;
    IF lease_seconds IS NULL OR lease_seconds NOT BETWEEN 1 AND 3600 THEN
        RAISE EXCEPTION 'lease_seconds must be from 1 to 3600, got %', coalesce(lease_seconds::text, 'null')
            USING ERRCODE = 'PC030', HINT = 'Long enough to send the whole batch: a lease that expires makes its messages unknown.';
    END IF;
    RETURN QUERY
    WITH due AS (
        SELECT m.id FROM public.outbound_messages AS m
         WHERE m.status = 'queued' AND m.payload IS NOT NULL AND m.next_attempt_at <= now()
         ORDER BY m.next_attempt_at
         LIMIT batch_size
         FOR UPDATE SKIP LOCKED)
    UPDATE public.outbound_messages AS m
       SET status = 'sending', attempts = m.attempts + 1, lease_owner = worker_id,
           lease_expires_at = now() + make_interval(secs => lease_seconds),
           next_attempt_at = now() + make_interval(secs => lease_seconds),  -- the queue index's key while sending
           updated_at = now()
      FROM due
     WHERE m.id = due.id
    RETURNING m.id, m.dedupe_key, m.cliente_id, m.conversation_id, m.method, m.template_ref, m.payload, m.attempts,
              m.lease_expires_at;
END
$$;
COMMENT ON FUNCTION public.outbox_claim(text, integer, integer) IS
    'Claims up to batch_size due queued messages (oldest first, FOR UPDATE SKIP LOCKED) for worker_id, leased for lease_seconds; returns them. Report each with marcar_enviado, marcar_falha or outbox_mark_unknown before the lease ends: an expired lease makes the message unknown (never resent automatically).';

-- Gives back claimed messages that were not sent (shutdown, breaker open, guardrail said
-- "circuit open"): no request left, so the attempt does not count.
CREATE OR REPLACE FUNCTION public.outbox_release(worker_id text, message_ids uuid[], retry_at timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF worker_id IS NULL OR btrim(worker_id) = '' THEN
        RAISE EXCEPTION 'worker_id is required' USING ERRCODE = 'PC030', HINT = 'Only the worker holding the lease may release it.';
    END IF;
    -- 'infinity' or a date years ahead would park the message for good, out of every
    -- queue view that looks at due messages (issue 15: garbage refused). A day is the
    -- longest back-off the worker uses; max_hold cancels held sends long before.
    IF retry_at IS NOT NULL AND (NOT isfinite(retry_at) OR retry_at > now() + interval '1 day') THEN
        RAISE EXCEPTION 'retry_at must be at most one day ahead'
            USING ERRCODE = 'PC030', HINT = 'Pass NULL to retry now, or a time within the next 24 hours.';
    END IF;
    UPDATE public.outbound_messages AS m
       SET status = 'queued', attempts = greatest(m.attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL,
           next_attempt_at = greatest(coalesce(retry_at, now()), now()), updated_at = now()
     WHERE m.id = ANY (message_ids) AND m.status = 'sending' AND m.lease_owner = worker_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION public.outbox_release(text, uuid[], timestamptz) IS
    'Returns messages that worker_id claimed but did not send to the queue (next attempt at retry_at, default now, at most a day ahead: PC030); the attempt is not counted. Messages of other workers or no longer sending are left alone. Returns how many were released.';

------------------------------------------------------------------------------------------
-- The guardrail decides a claimed message's fate; the worker obeys (DESIGN.md invariant 4).
-- One call per message: check_outbound_guardrails on the stored payload, then in the same
-- transaction a hold (back to the queue until hold_until, the attempt not counted) or a
-- cancel (final, with its reason). Held longer than its method's max_hold, a message is
-- cancelled as expired_while_held. Only `send` leaves the message with the worker, which
-- sends it and reports as before. A payload the guardrail refuses (invalid phone, unknown
-- method) can never go out: cancelled too.
CREATE OR REPLACE FUNCTION public.outbox_check(worker_id text, message_id uuid, channel text DEFAULT 'whatsapp')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m       public.outbound_messages;
    verdict jsonb;
    expires timestamptz;
BEGIN
    -- Against feature_flags_wake_held_sends: a kill switch turned back while this message is
    -- checked either commits first (the guardrail below then reads it) or waits for this
    -- transaction and wakes the message this one holds. Without it a wake can miss a hold
    -- that commits just after it (found by test_chaos_all_at_once).
    -- Taken before the row lock: the wake takes it before its row locks too.
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(7062636172790010);
    SELECT o.* INTO m FROM public.outbound_messages AS o WHERE o.id = outbox_check.message_id FOR UPDATE;
    IF NOT FOUND OR m.status <> 'sending' OR m.lease_owner IS DISTINCT FROM outbox_check.worker_id THEN
        RAISE EXCEPTION 'outbound message % is not leased by this worker', coalesce(outbox_check.message_id::text, 'null')
            USING ERRCODE = 'PC032', HINT = 'Check only the messages outbox_claim returned to you, before their lease ends.';
    END IF;
    BEGIN
        verdict := public.check_outbound_guardrails(m.cliente_id, m.payload ->> 'number', m.method, outbox_check.channel,
                                                    m.conversation_id, (m.payload ->> 'inbound_interaction_id')::uuid);
    EXCEPTION WHEN SQLSTATE 'PC020' OR SQLSTATE 'PC021' OR invalid_text_representation THEN
        verdict := jsonb_build_object('allowed', false, 'disposition', 'cancel',
                                      'block_reason', CASE SQLSTATE WHEN 'PC021' THEN 'unknown_method' ELSE 'invalid_target' END);
    END;
    IF verdict ->> 'disposition' = 'hold' THEN
        SELECT m.created_at + om.max_hold INTO expires FROM public.outbound_methods AS om WHERE om.method = m.method;
        IF (verdict ->> 'hold_until')::timestamptz > expires THEN
            verdict := verdict || jsonb_build_object('disposition', 'cancel', 'held_reason', verdict ->> 'block_reason',
                                                     'block_reason', 'expired_while_held');
        END IF;
    END IF;
    IF verdict ->> 'disposition' = 'hold' THEN
        UPDATE public.outbound_messages AS o
           SET status = 'queued', attempts = greatest(o.attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL,
               next_attempt_at = (verdict ->> 'hold_until')::timestamptz, block_reason = verdict ->> 'block_reason',
               held_count = o.held_count + 1, updated_at = now()
         WHERE o.id = m.id;
    ELSIF verdict ->> 'disposition' = 'cancel' THEN
        UPDATE public.outbound_messages AS o
           SET status = 'cancelled', attempts = greatest(o.attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL,
               block_reason = verdict ->> 'block_reason', error = 'cancelled: ' || (verdict ->> 'block_reason'),
               updated_at = now()
         WHERE o.id = m.id;
    END IF;
    RETURN verdict || jsonb_build_object('message_id', m.id, 'dedupe_key', m.dedupe_key);
END
$$;
COMMENT ON FUNCTION public.outbox_check(text, uuid, text) IS
    'The guardrail for a claimed message, obeyed in the database: returns check_outbound_guardrails''s verdict. disposition send: the worker sends it now; hold: it is back in the queue until hold_until (paused, campaigns off, outside hours, rate limited, circuit open); cancel: it is cancelled with block_reason (opted out, no inbound proof, invalid target, unknown method, expired_while_held after its method''s max_hold). PC032 when the worker does not hold its lease.';

-- Turning a kill switch back wakes the sends it held, whatever the path (RPC, raw UPDATE):
-- they are re-checked on the next claim instead of at their re-check time.
CREATE OR REPLACE FUNCTION pgcanary_private.outbox_wake_held()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(7062636172790010);  -- see outbox_check
    UPDATE public.outbound_messages AS o
       SET next_attempt_at = now(), updated_at = now()
     WHERE o.status = 'queued' AND o.next_attempt_at > now()
       AND o.block_reason = CASE NEW.flag_key WHEN 'pausar_julia' THEN 'assistant_paused' ELSE 'campaigns_disabled' END;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER feature_flags_wake_held_sends
    AFTER UPDATE OF value ON public.feature_flags
    FOR EACH ROW WHEN (NEW.flag_key IN ('pausar_julia', 'campaigns') AND NEW.value IS DISTINCT FROM OLD.value)
    EXECUTE FUNCTION pgcanary_private.outbox_wake_held();

------------------------------------------------------------------------------------------
-- Business events (functions/events.sql). outbound_sent is a funnel event (response rate =
-- inbound_received / outbound_sent) and follows the business-events rollout like the other
-- funnel events; outbound_failed and outbound_unknown_outcome are for reconciliation and
-- the SLOs, so they are always recorded. An event never blocks the outbox: a failure to
-- record one is a warning, and the status change stands.
CREATE OR REPLACE FUNCTION pgcanary_private.outbox_event(event_type text, cliente_id uuid, conversation_id uuid,
                                                         method text, props jsonb, gated boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF gated AND NOT public.should_emit_event(outbox_event.cliente_id, outbox_event.event_type) THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM pgcanary_private.record_event(outbox_event.event_type, outbox_event.cliente_id, outbox_event.conversation_id,
                                              jsonb_build_object('method', outbox_event.method, 'channel', 'whatsapp') || props,
                                              'outbox');
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'outbox: % event not recorded: % (%)', outbox_event.event_type, SQLERRM, SQLSTATE;
    END;
END
$$;

-- The class of an error for event props: the text before the first colon, short.
CREATE OR REPLACE FUNCTION pgcanary_private.outbox_error_class(error text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT left(btrim(split_part(error, ':', 1)), 60) $$;

------------------------------------------------------------------------------------------
-- Outcome reports. Each is one UPDATE on the hot path; the status is read again only to
-- explain a refusal.
CREATE OR REPLACE FUNCTION pgcanary_private.outbox_refuse(dedupe_key text, wanted text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    current_status text;
BEGIN
    SELECT m.status INTO current_status FROM public.outbound_messages AS m WHERE m.dedupe_key = outbox_refuse.dedupe_key;
    IF current_status IS NULL THEN
        RAISE EXCEPTION 'no outbound message has dedupe_key %', coalesce(quote_literal(pgcanary_private.excerpt(dedupe_key)), 'null')
            USING ERRCODE = 'PC031', HINT = 'Use the dedupe_key returned by pode_enviar_com_dedupe or outbox_claim.';
    END IF;
    RAISE EXCEPTION 'outbound message % is %: it cannot become %', dedupe_key, current_status, wanted
        USING ERRCODE = 'PC032',
              HINT = 'sent and failed are final; an unknown message is resolved with outbox_resolve.';
END
$$;

CREATE OR REPLACE FUNCTION public.marcar_enviado(dedupe_key text, provider_message_id text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    msg record;
BEGIN
    UPDATE public.outbound_messages AS m
       SET status = 'sent', sent_at = now(), lease_expires_at = NULL, updated_at = now(),
           provider_message_id = coalesce(marcar_enviado.provider_message_id, m.provider_message_id)
     WHERE m.dedupe_key = marcar_enviado.dedupe_key AND m.status IN ('queued', 'sending', 'unknown')
    RETURNING m.cliente_id, m.conversation_id, m.method, m.attempts INTO msg;
    IF FOUND THEN
        -- The rollout gate is asked here rather than inside outbox_event: most clients are
        -- outside the rollout, and a nested call costs more than this whole UPDATE.
        IF public.should_emit_event(msg.cliente_id, 'outbound_sent') THEN
            PERFORM pgcanary_private.outbox_event('outbound_sent', msg.cliente_id, msg.conversation_id, msg.method,
                                                  jsonb_build_object('attempts', msg.attempts), false);
        END IF;
        RETURN true;
    END IF;
    -- A repeated report (the first one's answer was lost with the connection) is fine.
    PERFORM FROM public.outbound_messages AS m WHERE m.dedupe_key = marcar_enviado.dedupe_key AND m.status = 'sent';
    IF FOUND THEN
        RETURN false;
    END IF;
    PERFORM pgcanary_private.outbox_refuse(dedupe_key, 'sent');
    RETURN false;
END
$$;
COMMENT ON FUNCTION public.marcar_enviado(text, text) IS
    'Seed 002: the provider accepted the message. queued, sending or unknown -> sent (with the provider''s message id). True when marked now, false when it was already sent; PC031 unknown key, PC032 when it had failed.';

-- retryable: the provider surely did not process the request (the caller decides this with
-- the rule in docs/outbox.md). The message is queued again with backoff while it has had
-- fewer than 3 attempts, and fails otherwise.
CREATE OR REPLACE FUNCTION public.marcar_falha(dedupe_key text, error text, retryable boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    msg record;
BEGIN
    IF error IS NULL OR btrim(error) = '' THEN
        RAISE EXCEPTION 'marcar_falha(%): error is required', coalesce(quote_literal(pgcanary_private.excerpt(dedupe_key)), 'null')
            USING ERRCODE = 'PC030', HINT = 'Say what failed without personal data, for example ''HTTP 400'' or ''connect timeout''.';
    END IF;
    IF retryable IS NULL THEN
        RAISE EXCEPTION 'marcar_falha(%): retryable must be true or false', coalesce(quote_literal(pgcanary_private.excerpt(dedupe_key)), 'null')
            USING ERRCODE = 'PC030', HINT = 'true only when the provider surely did not process the request (docs/outbox.md).';
    END IF;
    UPDATE public.outbound_messages AS m
       SET status = CASE WHEN retryable AND m.status <> 'unknown' AND m.attempts < 3 THEN 'queued' ELSE 'failed' END,
           -- 30 s, 60 s, 120 s... with +-20% jitter so that a burst of failures spreads out
           next_attempt_at = CASE WHEN retryable AND m.status <> 'unknown' AND m.attempts < 3
                                  THEN now() + make_interval(secs => 30 * power(2, greatest(m.attempts - 1, 0)) * (0.8 + 0.4 * random()))
                                  ELSE m.next_attempt_at END,
           error = marcar_falha.error, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
     WHERE m.dedupe_key = marcar_falha.dedupe_key AND m.status IN ('queued', 'sending', 'unknown')
    RETURNING m.status, m.cliente_id, m.conversation_id, m.method, m.attempts INTO msg;
    IF FOUND THEN
        IF msg.status = 'failed' THEN
            PERFORM pgcanary_private.outbox_event('outbound_failed', msg.cliente_id, msg.conversation_id, msg.method,
                jsonb_build_object('error_class', pgcanary_private.outbox_error_class(marcar_falha.error),
                                   'attempts', msg.attempts), false);
        END IF;
        RETURN msg.status;
    END IF;
    PERFORM FROM public.outbound_messages AS m WHERE m.dedupe_key = marcar_falha.dedupe_key AND m.status = 'failed';
    IF FOUND THEN
        RETURN 'failed';
    END IF;
    PERFORM pgcanary_private.outbox_refuse(dedupe_key, 'failed');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.marcar_falha(text, text, boolean) IS
    'Seed 002: the send failed. Returns the new status: queued again (retryable, fewer than 3 attempts, backoff 30 s x 2^n with jitter) or failed. An unknown message only becomes failed. PC031 unknown key, PC032 when it was sent.';

CREATE OR REPLACE FUNCTION public.outbox_mark_unknown(dedupe_key text, error text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    msg record;
BEGIN
    IF error IS NULL OR btrim(error) = '' THEN
        RAISE EXCEPTION 'outbox_mark_unknown(%): error is required', coalesce(quote_literal(pgcanary_private.excerpt(dedupe_key)), 'null')
            USING ERRCODE = 'PC030', HINT = 'Say what happened without personal data, for example ''read timeout'' or ''HTTP 502''.';
    END IF;
    UPDATE public.outbound_messages AS m
       SET status = 'unknown', error = outbox_mark_unknown.error, lease_expires_at = NULL, updated_at = now()
     WHERE m.dedupe_key = outbox_mark_unknown.dedupe_key AND m.status = 'sending'
    RETURNING m.cliente_id, m.conversation_id, m.method, m.attempts INTO msg;
    IF FOUND THEN
        PERFORM pgcanary_private.outbox_event('outbound_unknown_outcome', msg.cliente_id, msg.conversation_id, msg.method,
            jsonb_build_object('cause', pgcanary_private.outbox_error_class(outbox_mark_unknown.error),
                               'attempts', msg.attempts), false);
        RETURN 'unknown';
    END IF;
    PERFORM FROM public.outbound_messages AS m WHERE m.dedupe_key = outbox_mark_unknown.dedupe_key AND m.status = 'unknown';
    IF FOUND THEN
        RETURN 'unknown';
    END IF;
    PERFORM pgcanary_private.outbox_refuse(dedupe_key, 'unknown');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.outbox_mark_unknown(text, text) IS
    'The request may have reached the provider but no answer says so (read timeout, dropped connection, HTTP 500/502/504): sending -> unknown. Never resent automatically; an operator resolves it with outbox_resolve.';

-- Leases that ran out while sending: the worker died or stalled after claiming, and a
-- request may have left. Unknown, not queued.
CREATE OR REPLACE FUNCTION public.outbox_expire_leases()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n   integer := 0;
    msg record;
BEGIN
    FOR msg IN
        UPDATE public.outbound_messages AS m
           SET status = 'unknown', error = 'lease expired while sending (worker ' || m.lease_owner || ')',
               lease_expires_at = NULL, updated_at = now()
         WHERE m.status = 'sending' AND m.next_attempt_at < now()
        RETURNING m.cliente_id, m.conversation_id, m.method, m.attempts
    LOOP
        PERFORM pgcanary_private.outbox_event('outbound_unknown_outcome', msg.cliente_id, msg.conversation_id, msg.method,
            jsonb_build_object('cause', 'lease_expired', 'attempts', msg.attempts), false);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION public.outbox_expire_leases() IS
    'Marks unknown every sending message whose lease has expired (its worker died or stalled; a request may have left). Returns how many. Workers call it on every loop.';

------------------------------------------------------------------------------------------
-- Reconciliation: an operator checks with the provider (or the client) and says what
-- happened. Audited by the trigger below with the reason.
CREATE OR REPLACE FUNCTION public.outbox_resolve(message_id uuid, resolution text, reason text,
                                                 provider_message_id text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    current_status text;
    scope          text;
    new_key        text;
    keys           text[];
    at             timestamptz;
    other          uuid;
    result         public.outbound_messages;
BEGIN
    IF resolution IS NULL OR resolution NOT IN ('sent', 'failed', 'requeue') THEN
        RAISE EXCEPTION 'resolution must be sent, failed or requeue, got %', coalesce(quote_literal(pgcanary_private.excerpt(resolution)), 'null')
            USING ERRCODE = 'PC030', HINT = 'sent: the provider has it; failed: it never arrived; requeue: send it again (only when sure it never arrived).';
    END IF;
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a reason is required to resolve an unknown message'
            USING ERRCODE = 'PC030', HINT = 'Say what you checked, for example reason => ''not in Evolution history for that number''. It goes to outbound_message_audit.';
    END IF;
    SELECT m.status INTO current_status FROM public.outbound_messages AS m WHERE m.id = message_id FOR UPDATE;
    IF current_status IS NULL THEN
        RAISE EXCEPTION 'no outbound message has id %', coalesce(message_id::text, 'null')
            USING ERRCODE = 'PC031', HINT = 'List the ones to resolve with: SELECT * FROM outbox_unknown();';
    END IF;
    IF current_status <> 'unknown' THEN
        RAISE EXCEPTION 'outbound message % is %, not unknown: nothing to resolve', message_id, current_status
            USING ERRCODE = 'PC032', HINT = 'Only messages whose outcome is unknown are resolved by an operator.';
    END IF;
    IF resolution = 'requeue' THEN
        -- Same lock and rule as pode_enviar_com_dedupe (60-minute window): a newer message of
        -- this scope may have been queued or sent since this one went unknown. The resend
        -- takes this hour's key so that later callers find it.
        SELECT m.cliente_id::text || ':' || m.method || ':' || coalesce(nullif(m.template_ref, ''), 'none') || ':'
          INTO scope FROM public.outbound_messages AS m WHERE m.id = message_id;
        PERFORM pg_advisory_xact_lock(hashtextextended(scope, 4242));
        at := clock_timestamp();  -- after the lock, as in pode_enviar_com_dedupe
        keys := pgcanary_private.dedupe_keys(scope, at, 60);
        new_key := keys[1];
        SELECT m.id INTO other FROM public.outbound_messages AS m
         WHERE m.id <> message_id AND m.status NOT IN ('failed', 'cancelled')
           AND (m.status <> 'sent' OR m.created_at > at - interval '60 minutes')
           AND m.dedupe_key = ANY (keys);
        IF other IS NOT NULL THEN
            RAISE EXCEPTION 'requeueing % would repeat message % of the same client, method and template', message_id, other
                USING ERRCODE = 'PC032', HINT = 'Resolve this one as sent or failed: the newer message stands for it.';
        END IF;
    END IF;
    PERFORM set_config('pgcanary.reason', resolution || ': ' || reason, true);
    UPDATE public.outbound_messages AS m
       SET status = CASE resolution WHEN 'requeue' THEN 'queued' ELSE resolution END,
           sent_at = CASE WHEN resolution = 'sent' THEN now() ELSE m.sent_at END,
           provider_message_id = coalesce(outbox_resolve.provider_message_id, m.provider_message_id),
           next_attempt_at = CASE WHEN resolution = 'requeue' THEN now() ELSE m.next_attempt_at END,
           dedupe_key = coalesce(new_key, m.dedupe_key),
           lease_owner = NULL, updated_at = now()
     WHERE m.id = message_id
    RETURNING m.* INTO result;
    RETURN jsonb_build_object('id', result.id, 'dedupe_key', result.dedupe_key, 'status', result.status,
                              'provider_message_id', result.provider_message_id);
END
$$;
COMMENT ON FUNCTION public.outbox_resolve(uuid, text, text, text) IS
    'Operator reconciliation of an unknown message: resolution sent (the provider has it), failed (it never arrived) or requeue (send again; refused if it would repeat a message in its window). A reason is required; the change is audited in outbound_message_audit.';

CREATE OR REPLACE FUNCTION public.outbox_unknown(max_rows integer DEFAULT 100)
RETURNS TABLE (id uuid, dedupe_key text, cliente_id uuid, method text, template_ref text, attempts integer,
               lease_owner text, error text, created_at timestamptz, updated_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.id, m.dedupe_key, m.cliente_id, m.method, m.template_ref, m.attempts, m.lease_owner, m.error,
           m.created_at, m.updated_at
      FROM public.outbound_messages AS m
     WHERE m.status = 'unknown'
     ORDER BY m.updated_at
     LIMIT greatest(coalesce(max_rows, 100), 0)
$$;
COMMENT ON FUNCTION public.outbox_unknown(integer) IS
    'Messages whose outcome is unknown, oldest first: the reconciliation list for outbox_resolve.';

------------------------------------------------------------------------------------------
-- Metrics for the health panel. Depth by status comes from the pending index; sent and
-- failed are counted over the last 24 hours.
CREATE OR REPLACE FUNCTION public.outbox_metrics()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'depth', jsonb_build_object(
            'queued', (SELECT count(*) FROM public.outbound_messages m WHERE m.status = 'queued'),
            'sending', (SELECT count(*) FROM public.outbound_messages m WHERE m.status = 'sending'),
            'unknown', (SELECT count(*) FROM public.outbound_messages m WHERE m.status = 'unknown'),
            'sent_24h', (SELECT count(*) FROM public.outbound_messages m WHERE m.sent_at > now() - interval '24 hours'),
            'failed_24h', (SELECT count(*) FROM public.outbound_messages m WHERE m.status = 'failed'
                              AND m.updated_at > now() - interval '24 hours'),
            'held', (SELECT count(*) FROM public.outbound_messages m WHERE m.status = 'queued' AND m.block_reason IS NOT NULL),
            'cancelled_24h', (SELECT count(*) FROM public.outbound_messages m WHERE m.status = 'cancelled'
                                 AND m.updated_at > now() - interval '24 hours')),
        'oldest_queued_age_seconds', (SELECT coalesce(extract(epoch FROM now() - min(m.created_at)), 0)::numeric(12, 1)
                                        FROM public.outbound_messages m WHERE m.status = 'queued'),
        'sends_per_minute', (SELECT count(*) FROM public.outbound_messages m WHERE m.sent_at > now() - interval '1 minute'),
        'unknown', (SELECT count(*) FROM public.outbound_messages m WHERE m.status = 'unknown'),
        -- SLO duplicatas_detectadas = 0: two sent messages of one (client, method, template)
        -- less than the default window (60 minutes) apart, or one provider message id twice.
        'duplicates_detected', (
            (SELECT count(*) FROM public.outbound_messages a JOIN public.outbound_messages b
                ON b.cliente_id = a.cliente_id AND b.method = a.method
               AND coalesce(b.template_ref, '') = coalesce(a.template_ref, '') AND b.id <> a.id
               AND b.created_at >= a.created_at AND b.created_at < a.created_at + interval '60 minutes'
             WHERE a.status = 'sent' AND b.status = 'sent' AND a.sent_at > now() - interval '24 hours'
               AND b.sent_at > now() - interval '24 hours')
          + (SELECT count(*) - count(DISTINCT m.provider_message_id) FROM public.outbound_messages m
              WHERE m.provider_message_id IS NOT NULL AND m.sent_at > now() - interval '24 hours')))
$$;
COMMENT ON FUNCTION public.outbox_metrics() IS
    'Outbox health: {depth: {queued, sending, unknown, sent_24h, failed_24h, held, cancelled_24h}, oldest_queued_age_seconds, sends_per_minute, unknown, duplicates_detected (SLO: 0)}.';

------------------------------------------------------------------------------------------
-- Guards. The WHEN clause is evaluated without calling a function, so legal transitions
-- (every hot-path update) cost nothing; only an illegal one reaches the raising function.
CREATE OR REPLACE FUNCTION pgcanary_private.outbound_messages_refuse_transition()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'outbound message % is %: it cannot become %', OLD.dedupe_key, OLD.status, NEW.status
        USING ERRCODE = 'PC032',
              HINT = 'Allowed: queued -> sending/sent/failed/cancelled, sending -> sent/failed/unknown/queued/cancelled, unknown -> sent/failed/queued. sent, failed and cancelled are final.';
END
$$;

CREATE OR REPLACE TRIGGER outbound_messages_status_guard
    BEFORE UPDATE OF status ON public.outbound_messages
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status AND (OLD.status, NEW.status) NOT IN (
        ('queued', 'sending'), ('queued', 'sent'), ('queued', 'failed'), ('queued', 'cancelled'),
        ('sending', 'sent'), ('sending', 'failed'), ('sending', 'unknown'), ('sending', 'queued'), ('sending', 'cancelled'),
        ('unknown', 'sent'), ('unknown', 'failed'), ('unknown', 'queued')))
    EXECUTE FUNCTION pgcanary_private.outbound_messages_refuse_transition();

-- A final message keeps no phone number or text (db/0012): the payload becomes its sha256,
-- in the statement that ends it, whatever the path (marcar_enviado, the seed's raw UPDATE).
CREATE OR REPLACE FUNCTION pgcanary_private.outbound_messages_drop_payload()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.payload_sha256 := sha256(convert_to(NEW.payload::text, 'UTF8'));
    NEW.payload := NULL;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER outbound_messages_drop_payload
    BEFORE INSERT OR UPDATE ON public.outbound_messages
    FOR EACH ROW WHEN (NEW.status IN ('sent', 'failed', 'cancelled') AND NEW.payload IS NOT NULL)
    EXECUTE FUNCTION pgcanary_private.outbound_messages_drop_payload();

-- SECURITY DEFINER so the audit trail is append-only: service_role reads it but cannot
-- write it. Nobody may EXECUTE it directly (policies/outbound_message_audit.sql).
CREATE OR REPLACE FUNCTION pgcanary_private.outbound_messages_audit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO public.outbound_message_audit (message_id, dedupe_key, old_status, new_status, actor, reason)
    VALUES (NEW.id, NEW.dedupe_key, OLD.status, NEW.status, pgcanary_private.current_actor(),
            coalesce(pgcanary_private.current_reason(), 'no reason given (not through outbox_resolve)'));
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER outbound_messages_audit_unknown
    AFTER UPDATE OF status ON public.outbound_messages
    FOR EACH ROW
    WHEN (OLD.status = 'unknown' AND NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION pgcanary_private.outbound_messages_audit();

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.gerar_dedupe_key(uuid, text, text, timestamptz)',
    'public.pode_enviar_com_dedupe(uuid, text, text, jsonb, uuid, integer)',
    'public.outbox_claim(text, integer, integer)', 'public.outbox_release(text, uuid[], timestamptz)',
    'public.outbox_check(text, uuid, text)',
    'public.marcar_enviado(text, text)', 'public.marcar_falha(text, text, boolean)',
    'public.outbox_mark_unknown(text, text)', 'public.outbox_expire_leases()',
    'public.outbox_resolve(uuid, text, text, text)', 'public.outbox_unknown(integer)',
    'public.outbox_metrics()'
]::regprocedure[]);
