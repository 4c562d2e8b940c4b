SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- External handoff (ponte externa): its canary flag and kill switch, and the handoffs
-- themselves (open, confirm, close) with at most one active handoff per vaga.
-- Docs: docs/handoff.md. Tests: tests/sql/handoff.test.sql, tests/py/test_handoff_concurrency.py.
-- Table: db/0003_guardrails.sql (external_handoffs, constraint one_active_handoff_per_vaga).
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC003 missing argument    PC024 invalid toggle action or percentage
--   PC025 the vaga already has an active handoff    PC026 handoff not found
--   PC027 external handoff is off for this client   PC028 invalid IP address

------------------------------------------------------------------------------------------
-- toggle_ponte_externa: status | on [pct] | off, as the seed's Slack command. "on" without a
-- percentage is 100% (production); "off" keeps the percentage, so "on" again after an
-- incident means choosing the percentage again or taking 100%.
CREATE OR REPLACE FUNCTION public.toggle_ponte_externa(acao text, pct integer DEFAULT NULL, reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v       jsonb;
    pct_key text;
BEGIN
    IF acao IS NULL OR acao NOT IN ('on', 'off', 'status') THEN
        RAISE EXCEPTION 'toggle_ponte_externa: unknown acao %', coalesce('"' || pgcanary_private.excerpt(acao) || '"', 'null')
            USING ERRCODE = 'PC024', HINT = 'acao is status, on (optionally with pct 0..100) or off.';
    END IF;
    IF pct IS NOT NULL AND acao <> 'on' THEN
        RAISE EXCEPTION 'toggle_ponte_externa %: pct % is only for "on"', acao, pct
            USING ERRCODE = 'PC024', HINT = 'Use toggle_ponte_externa(''on'', 10) to set a percentage.';
    END IF;
    IF pct IS NOT NULL AND pct NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'toggle_ponte_externa on: pct must be from 0 to 100, got %', pct
            USING ERRCODE = 'PC024', HINT = 'The seed''s steps are 10, 50 and then on (100).';
    END IF;
    IF acao <> 'status' THEN
        PERFORM pgcanary_private.require_reason(coalesce(nullif(btrim(reason), ''),
                                                'toggle_ponte_externa ' || acao || coalesce(' ' || pct, '')));
        v := pgcanary_private.flag_for_update('external_handoff');
        -- An adopted row may say "percentage"; keep the user's key (flags.sql refuses both).
        pct_key := CASE WHEN v ? 'percentage' THEN 'percentage' ELSE 'canary_pct' END;
        v := jsonb_set(v, '{enabled}', to_jsonb(acao = 'on'));
        IF acao = 'on' THEN
            v := jsonb_set(v, ARRAY[pct_key], to_jsonb(coalesce(pct, 100)));
        END IF;
        UPDATE public.feature_flags AS f SET value = v WHERE f.flag_key = 'external_handoff';
    END IF;
    v := public.get_rollout_status('external_handoff');
    RETURN jsonb_build_object('enabled', v -> 'enabled', 'canary_pct', v -> 'percentage', 'phase', v -> 'phase');
END
$$;
COMMENT ON FUNCTION public.toggle_ponte_externa(text, integer, text) IS
    'External handoff canary and kill switch: status | on [pct 0..100, default 100] | off. Audited with the actor and the reason (default "toggle_ponte_externa <acao> [pct]"). Returns {enabled, canary_pct, phase}.';

------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.open_handoff(vaga_id uuid, cliente_id uuid, conversation_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    opened public.external_handoffs;
    active uuid;
BEGIN
    IF open_handoff.vaga_id IS NULL OR open_handoff.cliente_id IS NULL THEN
        RAISE EXCEPTION 'open_handoff: % is required', CASE WHEN open_handoff.vaga_id IS NULL THEN 'vaga_id' ELSE 'cliente_id' END
            USING ERRCODE = 'PC003', HINT = 'A handoff is for one vaga and one client.';
    END IF;
    IF NOT public.is_enabled('external_handoff', open_handoff.cliente_id) THEN
        RAISE EXCEPTION 'external handoff is off for client %', open_handoff.cliente_id
            USING ERRCODE = 'PC027',
                  HINT = 'The external_handoff flag is off or this client is outside its canary: toggle_ponte_externa(''status'').';
    END IF;
    -- Opens of one vaga queue here: two concurrent INSERTs would each wait for the other's
    -- exclusion check (a deadlock, seen under 16 callers). The next in line then meets the
    -- winner's committed row, and the constraint decides as before.
    PERFORM pg_advisory_xact_lock(hashtextextended('pgcanary.handoff:' || open_handoff.vaga_id::text, 0));
    BEGIN
        INSERT INTO public.external_handoffs AS h (vaga_id, cliente_id, conversation_id, opened_by)
        VALUES (open_handoff.vaga_id, open_handoff.cliente_id, open_handoff.conversation_id, pgcanary_private.current_actor())
        RETURNING h.* INTO opened;
    EXCEPTION WHEN exclusion_violation THEN
        -- The constraint decided (a concurrent open waited on the lock above, then lands here).
        SELECT h.handoff_id INTO active FROM public.external_handoffs AS h
         WHERE h.vaga_id = open_handoff.vaga_id AND h.status IN ('pending', 'confirmed');
        RAISE EXCEPTION 'vaga % already has an active handoff', open_handoff.vaga_id
            USING ERRCODE = 'PC025', DETAIL = format('active handoff_id: %s', active),
                  HINT = 'Close it first with close_handoff(handoff_id, reason); a vaga has at most one active handoff.';
    END;
    PERFORM pgcanary_private.record_event('handoff_opened', opened.cliente_id, opened.conversation_id,
                                          jsonb_build_object('handoff_id', opened.handoff_id, 'vaga_id', opened.vaga_id),
                                          'guardrails');
    RETURN to_jsonb(opened);
END
$$;
COMMENT ON FUNCTION public.open_handoff(uuid, uuid, uuid) IS
    'Opens a pending external handoff for a vaga and client. PC027 when external_handoff is off for the client; PC025 when the vaga already has an active (pending or confirmed) handoff: constraint one_active_handoff_per_vaga decides, also between concurrent callers.';

-- The confirm endpoint (/handoff/confirm) is public-facing, so its per-IP limit comes
-- first and its refusals are returned, not raised: a raise would roll back the IP's hit,
-- and someone probing handoff ids would never be limited. Arguments that cannot be a
-- request at all (no id, not an IP) still raise.
CREATE OR REPLACE FUNCTION public.confirm_handoff(handoff_id uuid, ip text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    limited jsonb;
    found_h public.external_handoffs;
BEGIN
    IF confirm_handoff.handoff_id IS NULL THEN
        RAISE EXCEPTION 'confirm_handoff: handoff_id is required' USING ERRCODE = 'PC003', HINT = 'Pass the handoff''s UUID.';
    END IF;
    limited := public.rate_limit_hit('handoff_confirm_ip', confirm_handoff.ip);
    IF NOT (limited ->> 'allowed')::boolean THEN
        RETURN jsonb_build_object('confirmed', false, 'reason', 'rate_limited', 'handoff_id', confirm_handoff.handoff_id,
                                  'retry_after_seconds', limited -> 'retry_after_seconds');
    END IF;
    SELECT h.* INTO found_h FROM public.external_handoffs AS h WHERE h.handoff_id = confirm_handoff.handoff_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('confirmed', false, 'reason', 'not_found', 'handoff_id', confirm_handoff.handoff_id);
    ELSIF found_h.status = 'closed' THEN
        RETURN jsonb_build_object('confirmed', false, 'reason', 'closed', 'handoff_id', confirm_handoff.handoff_id);
    ELSIF found_h.status = 'confirmed' THEN
        -- A second click on the same link is a success, not an error.
        RETURN jsonb_build_object('confirmed', true, 'reason', 'already_confirmed', 'handoff_id', confirm_handoff.handoff_id);
    ELSIF NOT public.is_enabled('external_handoff', found_h.cliente_id) THEN
        RETURN jsonb_build_object('confirmed', false, 'reason', 'handoff_disabled', 'handoff_id', confirm_handoff.handoff_id);
    END IF;
    UPDATE public.external_handoffs AS h SET status = 'confirmed', confirmed_at = now()
     WHERE h.handoff_id = confirm_handoff.handoff_id;
    PERFORM pgcanary_private.record_event('handoff_confirmed', found_h.cliente_id, found_h.conversation_id,
                                          jsonb_build_object('handoff_id', found_h.handoff_id, 'vaga_id', found_h.vaga_id),
                                          'guardrails');
    RETURN jsonb_build_object('confirmed', true, 'reason', NULL, 'handoff_id', confirm_handoff.handoff_id);
END
$$;
COMMENT ON FUNCTION public.confirm_handoff(uuid, text) IS
    'The /handoff/confirm endpoint: per-IP limit (30/minute, 200/hour) first, then pending -> confirmed. Returns {confirmed, reason: null | rate_limited | not_found | closed | already_confirmed | handoff_disabled, handoff_id}; refusals are returned so the IP''s hit is kept. Raises only for a missing id (PC003) or an invalid IP (PC028).';

CREATE OR REPLACE FUNCTION public.close_handoff(handoff_id uuid, reason text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_h public.external_handoffs;
BEGIN
    IF close_handoff.handoff_id IS NULL THEN
        RAISE EXCEPTION 'close_handoff: handoff_id is required' USING ERRCODE = 'PC003', HINT = 'Pass the handoff''s UUID.';
    END IF;
    IF coalesce(btrim(close_handoff.reason), '') = '' THEN
        RAISE EXCEPTION 'close_handoff: a reason is required'
            USING ERRCODE = 'PC003', HINT = 'Say why, e.g. ''medico contratado'' or ''divulgador sem resposta''.';
    END IF;
    SELECT h.* INTO found_h FROM public.external_handoffs AS h WHERE h.handoff_id = close_handoff.handoff_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'handoff % not found', close_handoff.handoff_id
            USING ERRCODE = 'PC026', HINT = 'SELECT handoff_id, vaga_id, status FROM external_handoffs ORDER BY opened_at DESC;';
    END IF;
    IF found_h.status = 'closed' THEN
        RETURN to_jsonb(found_h) || jsonb_build_object('changed', false);
    END IF;
    UPDATE public.external_handoffs AS h
       SET status = 'closed', closed_at = now(), closed_by = pgcanary_private.current_actor(),
           close_reason = btrim(close_handoff.reason)
     WHERE h.handoff_id = close_handoff.handoff_id
    RETURNING h.* INTO found_h;
    -- outcome, not the free-text reason (which stays in the table): done after a
    -- confirmation, cancelled before one.
    PERFORM pgcanary_private.record_event('handoff_closed', found_h.cliente_id, found_h.conversation_id,
                                          jsonb_build_object('handoff_id', found_h.handoff_id, 'vaga_id', found_h.vaga_id,
                                                             'outcome', CASE WHEN found_h.confirmed_at IS NOT NULL THEN 'done' ELSE 'cancelled' END),
                                          'guardrails');
    RETURN to_jsonb(found_h) || jsonb_build_object('changed', true);
END
$$;
COMMENT ON FUNCTION public.close_handoff(uuid, text) IS
    'Closes a pending or confirmed handoff with a reason, freeing its vaga for a new one. Closing a closed handoff changes nothing (changed: false); PC026 for an unknown id.';

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.toggle_ponte_externa(text, integer, text)',
    'public.open_handoff(uuid, uuid, uuid)', 'public.confirm_handoff(uuid, text)', 'public.close_handoff(uuid, text)'
]::regprocedure[]);
