SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Alerts are not lost (docs/alerts.md): what the guard decides and the daily panel are rows
-- of public.alert_outbox, written in the transaction that decides them, and the scheduler's
-- alerts job posts them to Slack until Slack accepts (alert_claim -> alert_delivered, or
-- alert_failed with backoff). A guard run while Slack is down still records the incident and
-- alerts later. Alert texts carry counts, flags and our own ids: no client data.

CREATE OR REPLACE FUNCTION pgcanary_private.enqueue_alert(kind text, text text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    IF kind IS NULL OR kind !~ '^[a-z][a-z0-9_]{0,39}$' THEN
        RAISE EXCEPTION 'alert kind must be a lowercase name (letters, digits, _; at most 40)'
            USING ERRCODE = 'PC083', HINT = 'For example ''guard'' or ''daily_health''.';
    END IF;
    IF text IS NULL OR btrim(text) = '' OR length(text) > 3000 THEN
        RAISE EXCEPTION 'alert text must be 1 to 3000 characters, got %', coalesce(length(text)::text || ' characters', 'null')
            USING ERRCODE = 'PC083', HINT = 'Slack shows about 3000 characters in a message; say less.';
    END IF;
    INSERT INTO public.alert_outbox (kind, text) VALUES (enqueue_alert.kind, enqueue_alert.text)
    RETURNING alert_id INTO id;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION public.alert_enqueue(kind text, text text)
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pgcanary_private.enqueue_alert(kind, text) $$;
COMMENT ON FUNCTION public.alert_enqueue(text, text) IS
    'Queues a Slack alert (kind, text without client data) for the scheduler''s alerts job; returns its alert_id. PC083 for a bad kind or an empty / oversize text.';

-- Due alerts, oldest first. SKIP LOCKED and a short re-delivery delay so that two schedulers
-- never post the same alert at once; one that crashes mid-post retries after the delay (an
-- alert may then be posted twice, never lost: Slack is not transactional).
CREATE OR REPLACE FUNCTION public.alert_claim(max_rows integer DEFAULT 20)
RETURNS TABLE (alert_id bigint, kind text, text text, attempts integer, created_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be from 1 to 1000, got %', coalesce(max_rows::text, 'null')
            USING ERRCODE = 'PC083', HINT = 'The alerts job claims 20 at a time.';
    END IF;
    RETURN QUERY
    WITH due AS (
        SELECT a.alert_id FROM public.alert_outbox AS a
         WHERE a.delivered_at IS NULL AND a.next_attempt_at <= now()
         ORDER BY a.next_attempt_at, a.alert_id
         LIMIT max_rows
         FOR UPDATE SKIP LOCKED)
    UPDATE public.alert_outbox AS a
       SET attempts = a.attempts + 1, next_attempt_at = now() + interval '2 minutes'
      FROM due WHERE a.alert_id = due.alert_id
    RETURNING a.alert_id, a.kind, a.text, a.attempts, a.created_at;
END
$$;
COMMENT ON FUNCTION public.alert_claim(integer) IS
    'Claims up to max_rows undelivered alerts that are due (oldest first, SKIP LOCKED); each is claimed again after 2 minutes unless alert_delivered or alert_failed is called.';

CREATE OR REPLACE FUNCTION public.alert_delivered(alert_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE public.alert_outbox AS a SET delivered_at = now(), last_error = NULL
     WHERE a.alert_id = alert_delivered.alert_id AND a.delivered_at IS NULL;
    IF FOUND THEN
        RETURN true;
    END IF;
    PERFORM FROM public.alert_outbox AS a WHERE a.alert_id = alert_delivered.alert_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no alert has id %', coalesce(alert_id::text, 'null')
            USING ERRCODE = 'PC083', HINT = 'Report only the ids alert_claim returned.';
    END IF;
    RETURN false;  -- already delivered
END
$$;
COMMENT ON FUNCTION public.alert_delivered(bigint) IS
    'Slack accepted the alert: true, or false when it was already marked delivered. PC083 for an unknown id.';

-- Backoff 30 s, 1, 2, 4 ... minutes, at most 30 minutes: an outage of an hour is alerted a
-- few minutes after Slack is back.
CREATE OR REPLACE FUNCTION public.alert_failed(alert_id bigint, error text)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    retry timestamptz;
BEGIN
    UPDATE public.alert_outbox AS a
       SET next_attempt_at = now() + least(interval '30 seconds' * power(2, greatest(a.attempts - 1, 0)), interval '30 minutes'),
           last_error = left(coalesce(nullif(btrim(alert_failed.error), ''), 'unknown error'), 300)
     WHERE a.alert_id = alert_failed.alert_id AND a.delivered_at IS NULL
    RETURNING a.next_attempt_at INTO retry;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no undelivered alert has id %', coalesce(alert_id::text, 'null')
            USING ERRCODE = 'PC083', HINT = 'Report only the ids alert_claim returned, once.';
    END IF;
    RETURN retry;
END
$$;
COMMENT ON FUNCTION public.alert_failed(bigint, text) IS
    'Posting the alert failed (error: a short class such as ''HTTP 500'', no content): it is retried with backoff (30 s doubling, at most 30 minutes). Returns the next attempt time.';

-- The guard's P0 text (Portuguese, like the seed's rituals): counts, flags and our incident id.
CREATE OR REPLACE FUNCTION pgcanary_private.guard_alert_text(result jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT concat_ws(E'\n',
        '*🚨 Guard: mensagem enviada a cliente opted-out*',
        format('outbound_to_opted_out = %s desde %s UTC', result ->> 'outbound_to_opted_out',
               replace(left(result ->> 'since', 16), 'T', ' ')),
        CASE WHEN result ->> 'pause_error' IS NOT NULL
             THEN format('*Julia NÃO foi pausada*: %s — rode pausar_julia à mão', result ->> 'pause_error')
             ELSE 'Julia pausada (pausar_julia)' || CASE WHEN (result ->> 'paused_now')::boolean THEN '' ELSE ' — já estava pausada' END END,
        'Rollback: ' || coalesce((SELECT string_agg(format('%s %s%% → %s%%', r ->> 'flag_key', r ->> 'from', r ->> 'to'), ', ')
                                    FROM jsonb_array_elements(result -> 'rolled_back') AS r), 'nada a reverter'),
        format('Incidente P0 #%s aberto: nenhum gate dá GO até resolvê-lo (resolve_incident).', result ->> 'incident_id'))
$$;

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.alert_enqueue(text, text)', 'public.alert_claim(integer)',
    'public.alert_delivered(bigint)', 'public.alert_failed(bigint, text)'
]::regprocedure[]);
