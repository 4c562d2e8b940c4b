SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The sovereign outbound guardrail, opt-out, and the kill switches the Slack tools call.
-- Docs: docs/guardrails.md. Tests: tests/sql/guardrails.test.sql, tests/py/test_guardrails*.py.
-- Tables: db/0003_guardrails.sql. Rate limits: functions/rate_limits.sql.
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC003 missing argument (cliente_id, source)   PC020 invalid phone number
--   PC021 unknown method    PC022 unknown channel    PC023 empty bypass reason
--   PC024 invalid toggle action    PC001 invalid value for pausar_julia / campaigns

------------------------------------------------------------------------------------------
-- Flag shapes, refused at write time by any path (RPC, raw UPDATE in the SQL Editor).
-- pausar_julia is true (paused) or false; campaigns is {"enabled": true|false, ...}.
-- external_handoff is a canary flag and is validated by flags.sql.
CREATE OR REPLACE FUNCTION pgcanary_private.guardrail_flags_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.flag_key = 'pausar_julia' AND jsonb_typeof(NEW.value) IS DISTINCT FROM 'boolean' THEN
        RAISE EXCEPTION 'flag "pausar_julia" must be true or false, got %', coalesce(NEW.value::text, 'null')
            USING ERRCODE = 'PC001', HINT = 'true pauses the assistant; use pausar_julia(reason) and retomar_julia(reason).';
    ELSIF NEW.flag_key = 'campaigns'
          AND (jsonb_typeof(NEW.value) IS DISTINCT FROM 'object' OR jsonb_typeof(NEW.value -> 'enabled') IS DISTINCT FROM 'boolean') THEN
        RAISE EXCEPTION 'flag "campaigns" must be {"enabled": true|false}, got %', coalesce(NEW.value::text, 'null')
            USING ERRCODE = 'PC001', HINT = 'Use toggle_campanhas(''on'' | ''off'').';
    END IF;
    RETURN NEW;
END
$$;
CREATE OR REPLACE TRIGGER feature_flags_guardrail_values
    BEFORE INSERT OR UPDATE OF value ON public.feature_flags
    FOR EACH ROW WHEN (NEW.flag_key IN ('pausar_julia', 'campaigns'))
    EXECUTE FUNCTION pgcanary_private.guardrail_flags_validate();

------------------------------------------------------------------------------------------
-- Business hours of a method at a moment: local wall-clock time in tz, hours_from included,
-- hours_to excluded, on the ISO weekdays listed. STABLE: time zone rules can change.
CREATE OR REPLACE FUNCTION pgcanary_private.within_business_hours(
    at timestamptz, hours_from time, hours_to time, weekdays smallint[], tz text)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT extract(isodow FROM local_at)::smallint = ANY (weekdays)
       AND local_at::time >= hours_from AND local_at::time < hours_to
    FROM (SELECT at AT TIME ZONE tz AS local_at) AS t
$$;

-- The next moment business hours open, from `at` (the same rule as within_business_hours):
-- a send held outside hours waits until then.
CREATE OR REPLACE FUNCTION pgcanary_private.next_business_open(
    at timestamptz, hours_from time, hours_to time, weekdays smallint[], tz text)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT min(((local_day + d)::date + hours_from) AT TIME ZONE tz)
      FROM (SELECT (at AT TIME ZONE tz)::date AS local_day) AS t,
           generate_series(0, 7) AS d
     WHERE extract(isodow FROM (local_day + d)::date)::smallint = ANY (weekdays)
       AND ((local_day + d)::date + hours_from) AT TIME ZONE tz > at
$$;

-- What happens to a blocked send (DESIGN.md invariant 4), as data the caller obeys: a
-- temporary block holds it until a time computed here, a permanent one cancels it. `free_at`
-- is when the condition is known to clear (business hours, the rate window, the breaker);
-- for a kill switch nobody knows, so the send is re-checked every few minutes, and turning
-- the switch back wakes held sends at once (functions/outbox.sql, outbox_wake_held).
CREATE OR REPLACE FUNCTION pgcanary_private.block_disposition(reason text, now_at timestamptz, free_at timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN reason IS NULL THEN jsonb_build_object('disposition', 'send')
        WHEN reason IN ('opted_out', 'reply_without_inbound_proof') THEN jsonb_build_object('disposition', 'cancel')
        ELSE jsonb_build_object('disposition', 'hold', 'hold_until',
            greatest(coalesce(free_at, now_at + CASE WHEN reason = 'circuit_open' THEN interval '1 second'
                                                     ELSE interval '5 minutes' END), now_at + interval '1 second'))
    END
$$;

------------------------------------------------------------------------------------------
-- check_outbound_guardrails: the single point every outbound send passes through.
--
-- Order of the checks (docs/guardrails.md says why each sits where it does):
--   0. arguments (raise, nothing recorded)
--   1. assistant_paused         pausar_julia              never bypassable
--   2. campaigns_disabled       campaigns toggle          never bypassable
--   3. opted_out                opt_outs                  never bypassable
--   4. reply_without_inbound_proof                        bypassable
--   5. outside_business_hours   outbound_methods hours    bypassable
--   6. rate_limited             20/hour, 100/day a phone  bypassable
--   7. circuit_open             circuit_allow(channel)    never bypassable (functions/circuit.sql)
-- then the admitted send is counted against the phone's windows.
--
-- Hot path (measured per statement with plpgsql_check's profiler, one transaction per call):
--   * one statement reads the flags, the method, the channel and the opt-out (the campaigns
--     flag only for a campaign): a blocked send costs that and its event;
--   * after the phone's lock, one statement reads its rules and its newest hits, and the
--     windows are judged from that one index scan (see
--     pgcanary_private.rate_limit_check, which uses the same algorithm: change both together);
--   * the phone is read once, by pgcanary_private.phone_e164 (functions/phone.sql).
--
-- SECURITY INVOKER like every RPC: the HMAC key is read through pgcanary_private.keyed_hash,
-- the one SECURITY DEFINER reader of the owner-only key table. Inlining the key read (this
-- function SECURITY DEFINER) saved about 4 us a call in plpgsql_check's profiler, too little
-- against running the whole guardrail with the owner's rights.
CREATE OR REPLACE FUNCTION public.check_outbound_guardrails(
    cliente_id uuid,
    telefone text,
    method text,
    channel text DEFAULT 'whatsapp',
    conversation_id uuid DEFAULT NULL,
    inbound_interaction_id uuid DEFAULT NULL,
    bypass_reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_at      timestamptz := clock_timestamp();
    digits      text := pgcanary_private.phone_e164(telefone);  -- the one phone identity (functions/phone.sql)
    bypass      boolean := check_outbound_guardrails.bypass_reason IS NOT NULL;
    paused_v    jsonb;
    campaigns_v jsonb;
    method_ok   boolean;
    hours_from  time;
    hours_to    time;
    weekdays    smallint[];
    hours_tz    text;
    channel_ok  boolean;
    is_opted_out boolean;
    windows     interval[];
    maxima      integer[];
    hit_key     bytea;
    recent      timestamptz[];
    reason      text;
    bypassed    text[] := '{}'::text[];
    event_id    uuid;
    free_at     timestamptz;  -- when a temporary block is known to clear (block_disposition)
BEGIN
    -- 0. Arguments. A bad call is a bug in the caller, not a block: raise, record nothing.
    IF check_outbound_guardrails.cliente_id IS NULL THEN
        RAISE EXCEPTION 'cliente_id is required'
            USING ERRCODE = 'PC003', HINT = 'Every send names its client: opt-out is per client.';
    END IF;
    IF digits IS NULL THEN
        RAISE EXCEPTION 'invalid phone number: %', coalesce('"' || left(telefone, 4) || '..." (' || length(telefone) || ' characters)', 'null')
            USING ERRCODE = 'PC020',
                  HINT = 'Pass one number in international form, 10 to 15 digits, e.g. 5511999990000, +55 11 99999-0000 or a WhatsApp JID.';
    END IF;
    IF bypass AND btrim(check_outbound_guardrails.bypass_reason) = '' THEN
        RAISE EXCEPTION 'bypass_reason is empty'
            USING ERRCODE = 'PC023', HINT = 'A bypass needs a reason that an auditor can read, e.g. ''medico pediu retorno urgente''; pass NULL for no bypass.';
    END IF;
    IF char_length(check_outbound_guardrails.bypass_reason) > 1000 THEN
        -- The same limit as every stored reason (functions/pii.sql); it lands in event props.
        RAISE EXCEPTION 'bypass_reason: % characters, the limit is 1000', char_length(check_outbound_guardrails.bypass_reason)
            USING ERRCODE = 'PC070', HINT = 'Shorten it; put long evidence in a document and link it.';
    END IF;

    -- The phone's one keyed hash: its rate-limit counter and its phone opt-out.
    hit_key := pgcanary_private.keyed_hash('phone:' || digits);
    SELECT (SELECT f.value FROM public.feature_flags AS f WHERE f.flag_key = 'pausar_julia'),
           -- Only a campaign needs the campaigns flag (a CASE evaluates its subquery on demand).
           CASE WHEN check_outbound_guardrails.method = 'campaign'
                THEN (SELECT f.value FROM public.feature_flags AS f WHERE f.flag_key = 'campaigns') END,
           om.method IS NOT NULL, om.hours_from, om.hours_to, om.weekdays, om.hours_tz,
           EXISTS (SELECT 1 FROM public.outbound_channels AS oc WHERE oc.channel = check_outbound_guardrails.channel),
           pgcanary_private.is_opted_out(check_outbound_guardrails.cliente_id, hit_key)
      INTO paused_v, campaigns_v, method_ok, hours_from, hours_to, weekdays, hours_tz, channel_ok, is_opted_out
      FROM (SELECT) AS one
      LEFT JOIN public.outbound_methods AS om ON om.method = check_outbound_guardrails.method;
    IF NOT method_ok THEN
        RAISE EXCEPTION 'unknown outbound method: %', coalesce('"' || pgcanary_private.excerpt(check_outbound_guardrails.method) || '"', 'null')
            USING ERRCODE = 'PC021', HINT = 'Methods are the rows of outbound_methods: SELECT method FROM outbound_methods;';
    END IF;
    IF NOT channel_ok THEN
        RAISE EXCEPTION 'unknown outbound channel: %', coalesce('"' || pgcanary_private.excerpt(check_outbound_guardrails.channel) || '"', 'null')
            USING ERRCODE = 'PC022', HINT = 'Channels are the rows of outbound_channels: SELECT channel FROM outbound_channels;';
    END IF;

    -- 1-3: kill switches and consent. No bypass reaches past them. Both flags fail closed:
    -- a missing or unreadable pausar_julia counts as paused, campaigns as off.
    IF paused_v IS DISTINCT FROM 'false'::jsonb THEN
        reason := 'assistant_paused';
    ELSIF check_outbound_guardrails.method = 'campaign' AND (campaigns_v -> 'enabled') IS DISTINCT FROM 'true'::jsonb THEN
        reason := 'campaigns_disabled';
    ELSIF is_opted_out THEN
        reason := 'opted_out';
    ELSE
        -- 4-6: bypassable. Each records what a bypass let through.
        IF check_outbound_guardrails.method = 'reply' AND (check_outbound_guardrails.inbound_interaction_id IS NULL
                                   OR check_outbound_guardrails.conversation_id IS NULL) THEN
            IF bypass THEN bypassed := bypassed || 'reply_without_inbound_proof'::text;
            ELSE reason := 'reply_without_inbound_proof'; END IF;
        END IF;
        IF reason IS NULL AND hours_from IS NOT NULL
           AND NOT pgcanary_private.within_business_hours(now_at, hours_from, hours_to, weekdays, hours_tz) THEN
            IF bypass THEN bypassed := bypassed || 'outside_business_hours'::text;
            ELSE reason := 'outside_business_hours';
                 free_at := pgcanary_private.next_business_open(now_at, hours_from, hours_to, weekdays, hours_tz); END IF;
        END IF;
        IF reason IS NULL THEN
            IF current_setting('transaction_isolation') = 'repeatable read' THEN
                RAISE EXCEPTION 'rate limits cannot be checked under REPEATABLE READ'
                    USING ERRCODE = 'PC029',
                          HINT = 'Call it in a READ COMMITTED (the default) or SERIALIZABLE transaction: a repeatable-read snapshot misses hits committed while it waited and would over-admit.';
            END IF;
            -- The lock and the read are two statements (see pgcanary_private.rate_limit_check
            -- for why); the lock is held to commit, with the hit. opt_out(telefone => ...)
            -- takes the same lock, and the opt-out is read again after it: a send that
            -- waited here while its client or its phone opted out is not admitted.
            PERFORM pg_advisory_xact_lock(1885562721, ('x' || encode(substr(hit_key, 1, 4), 'hex'))::bit(32)::integer);
            now_at := clock_timestamp();  -- after the wait: windows end at the moment of admission
            -- The phone's rules and its newest hits, as many as the largest limit, in one
            -- statement: a window of max_hits is full when the max_hits-th newest hit is in it.
            SELECT rules.windows, rules.maxima,
                   ARRAY(SELECT h.hit_at FROM public.rate_limit_hits AS h
                          WHERE h.key_hash = hit_key AND h.hit_at > now_at - rules.longest
                          ORDER BY h.hit_at DESC LIMIT rules.most),
                   pgcanary_private.is_opted_out(check_outbound_guardrails.cliente_id, hit_key)
              INTO windows, maxima, recent, is_opted_out
              FROM (SELECT array_agg(r.window_size) AS windows, array_agg(r.max_hits) AS maxima,
                           max(r.window_size) AS longest, max(r.max_hits) AS most
                      FROM public.rate_limit_rules AS r WHERE r.scope = 'phone') AS rules;
            IF is_opted_out THEN
                reason := 'opted_out';
            ELSIF windows IS NOT NULL THEN
                FOR i IN 1 .. array_length(windows, 1) LOOP
                    IF maxima[i] = 0 OR recent[maxima[i]] > now_at - windows[i] THEN
                        IF bypass THEN bypassed := bypassed || 'rate_limited'::text;
                        ELSE reason := 'rate_limited';
                             -- the window frees when its max_hits-th newest hit leaves it
                             free_at := coalesce(recent[maxima[i]], now_at) + windows[i]; END IF;
                        EXIT;
                    END IF;
                END LOOP;
            END IF;
        END IF;

        -- 7. Circuit breaker (functions/circuit.sql; added by the outbox capability). The
        -- breaker is named after the channel ('whatsapp': the Evolution API). After the rate
        -- limit so that a half-open breaker's single probe is granted only to a send that
        -- passed every other check and will go out; before the hit is counted so that a send
        -- the breaker stops does not use the phone's quota. Not bypassable: a bypass cannot
        -- make the provider answer. The sender reports the outcome with circuit_record.
        IF reason IS NULL AND NOT public.circuit_allow(check_outbound_guardrails.channel) THEN
            reason := 'circuit_open';
            free_at := (SELECT c.open_until FROM public.circuit_breakers AS c WHERE c.name = check_outbound_guardrails.channel);
        END IF;

        IF reason IS NULL THEN
            -- Bypassed sends count too: the phone did receive them.
            INSERT INTO public.rate_limit_hits (scope, key_hash, hit_at) VALUES ('phone', hit_key, now_at);
        END IF;
    END IF;

    -- Q2-Q4 read these props. The phone is only ever its first 4 digits (country and area
    -- code), as business_events keeps it; the bypass names its actor: events are append-only.
    IF reason IS NOT NULL THEN
        event_id := pgcanary_private.record_event('outbound_blocked', check_outbound_guardrails.cliente_id,
            check_outbound_guardrails.conversation_id,
            jsonb_strip_nulls(jsonb_build_object(
                'block_reason', reason, 'channel', check_outbound_guardrails.channel,
                'method', check_outbound_guardrails.method, 'telefone_prefix', left(digits, 4),
                'inbound_interaction_id', check_outbound_guardrails.inbound_interaction_id,
                -- A bypass that was refused (paused, campaigns off, opted out) is worth seeing.
                'bypass_reason', check_outbound_guardrails.bypass_reason,
                'actor', CASE WHEN bypass THEN pgcanary_private.current_actor() END)),
            'guardrails');
    ELSIF bypass THEN
        event_id := pgcanary_private.record_event('outbound_bypass', check_outbound_guardrails.cliente_id,
            check_outbound_guardrails.conversation_id,
            jsonb_strip_nulls(jsonb_build_object(
                'block_reason', bypassed[1], 'bypassed_checks', to_jsonb(bypassed),
                'bypass_reason', check_outbound_guardrails.bypass_reason, 'actor', pgcanary_private.current_actor(),
                'channel', check_outbound_guardrails.channel, 'method', check_outbound_guardrails.method,
                'telefone_prefix', left(digits, 4),
                'inbound_interaction_id', check_outbound_guardrails.inbound_interaction_id)),
            'guardrails');
    END IF;

    RETURN jsonb_build_object('allowed', reason IS NULL, 'block_reason', reason,
                              'bypassed', bypass AND reason IS NULL, 'event_id', event_id)
           || pgcanary_private.block_disposition(reason, now_at, free_at);
END
$$;
COMMENT ON FUNCTION public.check_outbound_guardrails(uuid, text, text, text, uuid, uuid, text) IS
    'The single check before every outbound send: {allowed, block_reason, bypassed, event_id, disposition, hold_until}. disposition: send; hold (a temporary block: paused, campaigns off, outside business hours, rate limited, circuit open; retry at hold_until); cancel (opted out, reply without inbound proof). Order: assistant_paused, campaigns_disabled, opted_out (never bypassable), reply_without_inbound_proof, outside_business_hours, rate_limited (bypassable with a bypass_reason), circuit_open. An admitted send counts against the phone''s rate limits. A block records outbound_blocked; an allowed send with a bypass records outbound_bypass.';

------------------------------------------------------------------------------------------
-- Opt-out. Idempotent: true when the state changed, false when it already was so.
CREATE OR REPLACE FUNCTION pgcanary_private.require_opt_args(cliente_id uuid, source text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cliente_id IS NULL THEN
        RAISE EXCEPTION 'cliente_id is required' USING ERRCODE = 'PC003', HINT = 'Pass the client''s UUID.';
    END IF;
    IF coalesce(btrim(source), '') = '' THEN
        RAISE EXCEPTION 'source is required'
            USING ERRCODE = 'PC003', HINT = 'Say where the request came from, e.g. ''whatsapp_keyword'', ''slack'', ''clientes_sync''.';
    END IF;
END
$$;

-- Opted out: the client, or the phone (whichever client record uses it). One definition,
-- read by check_outbound_guardrails before and again after the phone's lock. plpgsql, not
-- SQL: a SQL function called inside a statement is planned again on every call (bench/README.md),
-- a plpgsql one keeps its plan for the session.
CREATE OR REPLACE FUNCTION pgcanary_private.is_opted_out(cliente_id uuid, phone_key bytea)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM public.opt_outs AS o WHERE o.cliente_id = is_opted_out.cliente_id AND o.opted_out)
        OR EXISTS (SELECT 1 FROM public.phone_opt_outs AS p WHERE p.phone_key = is_opted_out.phone_key AND p.opted_out);
END
$$;

-- The phone's row, written with the owner's rights: service_role reads phone_opt_outs and
-- changes it only through opt_out / opt_in, which hash the number themselves. Takes the
-- phone's lock (the guardrail's, see check_outbound_guardrails), so a send admitted while
-- this waits commits before the opt-out, and any later one sees it. True when it changed.
CREATE OR REPLACE FUNCTION pgcanary_private.set_phone_opt_out(telefone text, opted_out boolean, cliente_id uuid, source text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key bytea := pgcanary_private.keyed_hash('phone:' || pgcanary_private.normalize_phone(telefone));
BEGIN
    PERFORM pg_advisory_xact_lock(1885562721, ('x' || encode(substr(key, 1, 4), 'hex'))::bit(32)::integer);
    INSERT INTO public.phone_opt_outs AS p (phone_key, opted_out, cliente_id, source, changed_at, changed_by)
    VALUES (key, set_phone_opt_out.opted_out, set_phone_opt_out.cliente_id, btrim(set_phone_opt_out.source), now(),
            pgcanary_private.current_actor())
    ON CONFLICT (phone_key) DO UPDATE
       SET opted_out = EXCLUDED.opted_out, cliente_id = EXCLUDED.cliente_id, source = EXCLUDED.source,
           changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by
     WHERE p.opted_out IS DISTINCT FROM EXCLUDED.opted_out;
    RETURN FOUND;
END
$$;

-- telefone (optional, any spelling): the phone is opted out too, for every client record
-- that uses it. The WhatsApp "SAIR" webhook knows the phone: pass it.
DROP FUNCTION IF EXISTS public.opt_out(uuid, text);  -- before telefone; no overloads (DESIGN.md)
CREATE OR REPLACE FUNCTION public.opt_out(cliente_id uuid, source text, telefone text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    changed boolean;
    phone_changed boolean := false;
BEGIN
    PERFORM pgcanary_private.require_opt_args(opt_out.cliente_id, opt_out.source);
    IF opt_out.telefone IS NOT NULL THEN
        phone_changed := pgcanary_private.set_phone_opt_out(opt_out.telefone, true, opt_out.cliente_id, opt_out.source);
    END IF;
    INSERT INTO public.opt_outs AS o (cliente_id, opted_out, source, changed_at, changed_by)
    VALUES (opt_out.cliente_id, true, btrim(opt_out.source), now(), pgcanary_private.current_actor())
    ON CONFLICT ON CONSTRAINT opt_outs_pkey DO UPDATE
       SET opted_out = true, source = EXCLUDED.source, changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by
     WHERE NOT o.opted_out;
    changed := FOUND OR phone_changed;
    IF changed THEN
        PERFORM pgcanary_private.record_event('opt_out', opt_out.cliente_id, NULL,
                                              jsonb_build_object('source', btrim(opt_out.source)), 'guardrails');
    END IF;
    RETURN changed;
END
$$;
COMMENT ON FUNCTION public.opt_out(uuid, text, text) IS
    'Opts a client out of every outbound message (never bypassable), and with telefone (any spelling) the phone too, for every client record using it. True when something was not opted out before; audited in opt_out_audit and safety_audit.';

DROP FUNCTION IF EXISTS public.opt_in(uuid, text);
CREATE OR REPLACE FUNCTION public.opt_in(cliente_id uuid, source text, telefone text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    changed boolean;
    phone_changed boolean := false;
BEGIN
    PERFORM pgcanary_private.require_opt_args(opt_in.cliente_id, opt_in.source);
    IF opt_in.telefone IS NOT NULL THEN
        phone_changed := pgcanary_private.set_phone_opt_out(opt_in.telefone, false, opt_in.cliente_id, opt_in.source);
    END IF;
    UPDATE public.opt_outs AS o
       SET opted_out = false, source = btrim(opt_in.source), changed_at = now(), changed_by = pgcanary_private.current_actor()
     WHERE o.cliente_id = opt_in.cliente_id AND o.opted_out;
    changed := FOUND OR phone_changed;
    IF changed THEN
        PERFORM pgcanary_private.record_event('opt_in', opt_in.cliente_id, NULL,
                                              jsonb_build_object('source', btrim(opt_in.source)), 'guardrails');
    END IF;
    RETURN changed;
END
$$;
COMMENT ON FUNCTION public.opt_in(uuid, text, text) IS
    'Undoes opt_out: the client may receive messages again; with telefone the phone too (a phone opted out stays so until opt_in names it). True when something was opted out; audited.';

-- SECURITY DEFINER so opt_out_audit stays append-only: service_role reads it, writes nothing.
CREATE OR REPLACE FUNCTION pgcanary_private.opt_outs_audit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.opted_out IS NOT DISTINCT FROM OLD.opted_out
       AND NEW.source IS NOT DISTINCT FROM OLD.source THEN
        RETURN NULL;
    END IF;
    INSERT INTO public.opt_out_audit (cliente_id, operation, old_opted_out, new_opted_out, source, actor)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.cliente_id ELSE NEW.cliente_id END, TG_OP,
            CASE WHEN TG_OP <> 'INSERT' THEN OLD.opted_out END,
            CASE WHEN TG_OP <> 'DELETE' THEN NEW.opted_out END,
            CASE WHEN TG_OP = 'DELETE' THEN OLD.source ELSE NEW.source END,
            pgcanary_private.current_actor());
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER opt_outs_audit
    AFTER INSERT OR UPDATE OR DELETE ON public.opt_outs
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.opt_outs_audit();

------------------------------------------------------------------------------------------
-- Kill switches and toggles, as the seed's Slack tools name them. Each writes its flag with
-- an UPDATE under the row lock, so feature_flag_audit records who (JWT / pgcanary.actor) and
-- why (pgcanary.reason, set by require_reason). A missing flag raises PC002.
CREATE OR REPLACE FUNCTION pgcanary_private.set_paused(paused boolean, reason text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    before jsonb;
BEGIN
    PERFORM pgcanary_private.require_reason(reason);
    before := pgcanary_private.flag_for_update('pausar_julia');
    UPDATE public.feature_flags AS f SET value = to_jsonb(paused) WHERE f.flag_key = 'pausar_julia';
    RETURN jsonb_build_object('paused', paused, 'changed', before IS DISTINCT FROM to_jsonb(paused),
                              'actor', pgcanary_private.current_actor());
END
$$;

CREATE OR REPLACE FUNCTION public.pausar_julia(reason text)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pgcanary_private.set_paused(true, reason) $$;
COMMENT ON FUNCTION public.pausar_julia(text) IS
    'Kill switch: pauses the assistant; every outbound send is blocked (assistant_paused) from the next call, bypass or not. Needs a reason; audited. Returns {paused, changed, actor}.';

CREATE OR REPLACE FUNCTION public.retomar_julia(reason text)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pgcanary_private.set_paused(false, reason) $$;
COMMENT ON FUNCTION public.retomar_julia(text) IS
    'Undoes pausar_julia: outbound sends go through the other checks again. Needs a reason; audited. Returns {paused, changed, actor}.';

CREATE OR REPLACE FUNCTION public.toggle_campanhas(acao text, reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v       jsonb;
    enabled boolean;
BEGIN
    IF acao IS NULL OR acao NOT IN ('on', 'off', 'status') THEN
        RAISE EXCEPTION 'toggle_campanhas: unknown acao %', coalesce('"' || pgcanary_private.excerpt(acao) || '"', 'null')
            USING ERRCODE = 'PC024', HINT = 'acao is on, off or status.';
    END IF;
    IF acao = 'status' THEN
        SELECT f.value INTO v FROM public.feature_flags AS f WHERE f.flag_key = 'campaigns';
        RETURN jsonb_build_object('enabled', coalesce(v -> 'enabled' = 'true'::jsonb, false));
    END IF;
    enabled := acao = 'on';
    PERFORM pgcanary_private.require_reason(coalesce(nullif(btrim(reason), ''), 'toggle_campanhas ' || acao));
    v := pgcanary_private.flag_for_update('campaigns');
    UPDATE public.feature_flags AS f
       SET value = CASE WHEN jsonb_typeof(v) = 'object' THEN jsonb_set(v, '{enabled}', to_jsonb(enabled))
                        ELSE jsonb_build_object('enabled', enabled) END
     WHERE f.flag_key = 'campaigns';
    IF (v -> 'enabled') IS DISTINCT FROM to_jsonb(enabled) THEN
        -- The seed's handler logs "campaigns_toggled"; here it is an event the daily queries see.
        PERFORM pgcanary_private.record_event('campaigns_toggled', NULL, NULL,
                                              jsonb_build_object('enabled', enabled, 'actor', pgcanary_private.current_actor()),
                                              'guardrails');
    END IF;
    RETURN jsonb_build_object('enabled', enabled, 'changed', (v -> 'enabled') IS DISTINCT FROM to_jsonb(enabled),
                              'actor', pgcanary_private.current_actor());
END
$$;
COMMENT ON FUNCTION public.toggle_campanhas(text, text) IS
    'Seed gap B1: acao on | off | status. off blocks every campaign send (campaigns_disabled) from the next call. Audited with the actor and the reason (default "toggle_campanhas <acao>"). Returns {enabled[, changed, actor]}.';

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.check_outbound_guardrails(uuid, text, text, text, uuid, uuid, text)',
    'public.opt_out(uuid, text, text)', 'public.opt_in(uuid, text, text)',
    'public.pausar_julia(text)', 'public.retomar_julia(text)', 'public.toggle_campanhas(text, text)'
]::regprocedure[]);
