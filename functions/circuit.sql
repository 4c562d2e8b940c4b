SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Circuit breaker shared by all workers (seed 002: "5 falhas -> abre, 60s reset").
-- Docs: docs/circuit.md. Tests: tests/sql/circuit.test.sql, tests/py/test_circuit_concurrency.py.
--
-- States: closed -> (failure_threshold consecutive failures) -> open -> (open_seconds later,
-- the first circuit_allow) -> half_open with exactly one probe -> closed on success, open
-- again on failure. A probe that reports nothing within open_seconds (its worker died) is
-- replaced by the next caller, so a lost probe cannot wedge the breaker half-open.
--
-- Error codes of this file (class PC, see docs/errors.md): PC033 invalid circuit argument.

CREATE OR REPLACE FUNCTION pgcanary_private.check_circuit_name(name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR btrim(name) = '' OR length(name) > 100 THEN
        RAISE EXCEPTION 'circuit name must be 1 to 100 characters, got %', coalesce(quote_literal(pgcanary_private.excerpt(name)), 'null')
            USING ERRCODE = 'PC033', HINT = 'The worker''s breaker is named after its channel, for example ''whatsapp''.';
    END IF;
END
$$;

-- Hot path: called before every send. A closed (or never used) breaker is a read and no
-- write. The transition open -> half_open is one UPDATE whose WHERE is re-checked on the
-- latest row version by every concurrent caller (READ COMMITTED re-evaluation after the row
-- lock), so exactly one of them finds the row still open and becomes the probe.
CREATE OR REPLACE FUNCTION public.circuit_allow(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR name = '' OR length(name) > 100 THEN
        PERFORM pgcanary_private.check_circuit_name(name);
    END IF;
    PERFORM FROM public.circuit_breakers AS c WHERE c.name = circuit_allow.name AND c.state <> 'closed';
    IF NOT FOUND THEN
        RETURN true;
    END IF;
    UPDATE public.circuit_breakers AS c
       SET state = 'half_open', probe_started_at = now(), updated_at = now()
     WHERE c.name = circuit_allow.name
       AND ((c.state = 'open' AND c.open_until <= now())
            OR (c.state = 'half_open' AND c.probe_started_at <= now() - make_interval(secs => c.open_seconds)));
    IF FOUND THEN
        RETURN true;  -- this caller is the probe
    END IF;
    -- Closed meanwhile by another worker's success: allow. Open or probing: refuse.
    RETURN EXISTS (SELECT FROM public.circuit_breakers AS c WHERE c.name = circuit_allow.name AND c.state = 'closed');
END
$$;
COMMENT ON FUNCTION public.circuit_allow(text) IS
    'May a request go through breaker `name` now? True when closed; false while open; after open_seconds exactly one caller gets true (the half-open probe) until it reports with circuit_record. A breaker without a row is closed.';

-- Success: a half-open breaker closes, a closed one forgets its failures (no write when
-- there is nothing to forget). A success while open is a late answer to a request sent
-- before the breaker opened: it does not close the breaker, the probe decides.
-- Failure: counts; at the threshold, or for the half-open probe, the breaker opens.
CREATE OR REPLACE FUNCTION public.circuit_record(name text, success boolean)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_state text;
BEGIN
    IF name IS NULL OR name = '' OR length(name) > 100 THEN
        PERFORM pgcanary_private.check_circuit_name(name);
    END IF;
    IF success IS NULL THEN
        RAISE EXCEPTION 'circuit_record(%): success must be true or false, got null', pgcanary_private.excerpt(name)
            USING ERRCODE = 'PC033', HINT = 'Pass success => true after a good response, false after a provider failure.';
    END IF;
    IF success THEN
        UPDATE public.circuit_breakers AS c
           SET state = 'closed', consecutive_failures = 0, probe_started_at = NULL, open_until = NULL,
               last_closed_at = CASE WHEN c.state = 'half_open' THEN now() ELSE c.last_closed_at END,
               updated_at = now()
         WHERE c.name = circuit_record.name
           AND (c.state = 'half_open' OR (c.state = 'closed' AND c.consecutive_failures > 0))
        RETURNING c.state INTO new_state;
        IF new_state IS NULL THEN
            SELECT c.state INTO new_state FROM public.circuit_breakers AS c WHERE c.name = circuit_record.name;
        END IF;
        RETURN coalesce(new_state, 'closed');
    END IF;
    -- A new breaker starts closed with the default threshold (5), so one failure cannot open it.
    INSERT INTO public.circuit_breakers AS c (name, consecutive_failures)
    VALUES (circuit_record.name, 1)
    ON CONFLICT ON CONSTRAINT circuit_breakers_pkey DO UPDATE
       SET consecutive_failures = c.consecutive_failures + 1,
           state = CASE WHEN c.state = 'half_open'
                          OR (c.state = 'closed' AND c.consecutive_failures + 1 >= c.failure_threshold) THEN 'open'
                        ELSE c.state END,
           open_until = CASE WHEN c.state = 'half_open'
                               OR (c.state = 'closed' AND c.consecutive_failures + 1 >= c.failure_threshold)
                             THEN now() + make_interval(secs => c.open_seconds)
                             ELSE c.open_until END,
           times_opened = c.times_opened + CASE WHEN c.state = 'half_open'
                               OR (c.state = 'closed' AND c.consecutive_failures + 1 >= c.failure_threshold) THEN 1 ELSE 0 END,
           last_opened_at = CASE WHEN c.state = 'half_open'
                                   OR (c.state = 'closed' AND c.consecutive_failures + 1 >= c.failure_threshold)
                                 THEN now() ELSE c.last_opened_at END,
           probe_started_at = NULL,
           updated_at = now()
    RETURNING c.state INTO new_state;
    RETURN new_state;
END
$$;
COMMENT ON FUNCTION public.circuit_record(text, boolean) IS
    'Reports the outcome of a request through breaker `name`; returns the state after it (closed, open, half_open). failure_threshold consecutive failures open it for open_seconds; the half-open probe closes it on success and re-opens it on failure.';

-- Read-only: the guardrail's "circuit open" check and the worker's idle loop use it; it
-- never takes the probe.
CREATE OR REPLACE FUNCTION public.circuit_status(name text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c public.circuit_breakers;
BEGIN
    PERFORM pgcanary_private.check_circuit_name(name);
    SELECT * INTO c FROM public.circuit_breakers AS b WHERE b.name = circuit_status.name;
    RETURN jsonb_build_object(
        'name', circuit_status.name,
        'state', coalesce(c.state, 'closed'),
        -- open and still cooling down: no request may go, not even a probe
        'cooling_down', coalesce(c.state = 'open' AND c.open_until > now(), false),
        'consecutive_failures', coalesce(c.consecutive_failures, 0),
        'failure_threshold', coalesce(c.failure_threshold, 5),
        'open_seconds', coalesce(c.open_seconds, 60),
        'open_until', c.open_until,
        'times_opened', coalesce(c.times_opened, 0),
        'last_opened_at', c.last_opened_at,
        'last_closed_at', c.last_closed_at);
END
$$;
COMMENT ON FUNCTION public.circuit_status(text) IS
    'State of breaker `name` without changing it: {name, state, cooling_down, consecutive_failures, failure_threshold, open_seconds, open_until, times_opened, last_opened_at, last_closed_at}.';

CREATE OR REPLACE FUNCTION public.circuit_configure(name text, failure_threshold integer DEFAULT 5, open_seconds integer DEFAULT 60)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pgcanary_private.check_circuit_name(name);
    IF failure_threshold IS NULL OR failure_threshold NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'failure_threshold must be from 1 to 1000, got %', coalesce(failure_threshold::text, 'null')
            USING ERRCODE = 'PC033', HINT = 'The seed''s breaker opens after 5 consecutive failures.';
    END IF;
    IF open_seconds IS NULL OR open_seconds NOT BETWEEN 1 AND 86400 THEN
        RAISE EXCEPTION 'open_seconds must be from 1 to 86400, got %', coalesce(open_seconds::text, 'null')
            USING ERRCODE = 'PC033', HINT = 'The seed''s breaker stays open 60 seconds before its probe.';
    END IF;
    INSERT INTO public.circuit_breakers AS c (name, failure_threshold, open_seconds)
    VALUES (circuit_configure.name, circuit_configure.failure_threshold, circuit_configure.open_seconds)
    ON CONFLICT ON CONSTRAINT circuit_breakers_pkey DO UPDATE
       SET failure_threshold = excluded.failure_threshold, open_seconds = excluded.open_seconds, updated_at = now();
    RETURN public.circuit_status(name);
END
$$;
COMMENT ON FUNCTION public.circuit_configure(text, integer, integer) IS
    'Creates or retunes breaker `name`: failure_threshold consecutive failures (default 5) open it for open_seconds (default 60). The current state is kept.';

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.circuit_allow(text)', 'public.circuit_record(text, boolean)',
    'public.circuit_status(text)', 'public.circuit_configure(text, integer, integer)'
]::regprocedure[]);
