SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Exact sliding-window rate limits keyed by a keyed hash (never the raw phone or IP).
-- Docs: docs/rate_limits.md. Tests: tests/sql/rate_limits.test.sql, tests/py/test_rate_limits_concurrency.py.
-- Tables: db/0003_guardrails.sql (rate_limit_rules, rate_limit_hits, pgcanary_private.hash_keys).
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC020 invalid phone number    PC028 invalid rate-limit scope or subject
--   PC029 rate limit called under REPEATABLE READ (it could over-admit)

------------------------------------------------------------------------------------------
-- Normalisation: the same person must hit the same counter however the number is
-- written, or "+55 (11) 99999-9999", "5511999999999" and "11999999999@s.whatsapp.net" would
-- get 20 sends each. The one definition is pgcanary_private.phone_e164 (functions/phone.sql);
-- this is its raising form.
CREATE OR REPLACE FUNCTION pgcanary_private.normalize_phone(telefone text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    digits text := pgcanary_private.phone_e164(telefone);
BEGIN
    IF digits IS NULL THEN
        RAISE EXCEPTION 'invalid phone number: %', coalesce('"' || left(telefone, 4) || '..." (' || length(telefone) || ' characters)', 'null')
            USING ERRCODE = 'PC020',
                  HINT = 'Pass one number in international form, 10 to 15 digits, e.g. 5511999990000, +55 11 99999-0000 or a WhatsApp JID.';
    END IF;
    RETURN digits;
END
$$;
COMMENT ON FUNCTION pgcanary_private.normalize_phone(text) IS
    'Canonical phone (phone_e164) or PC020 for NULL or anything that is not one phone number. The error shows only the first 4 characters (no PII in logs).';

-- HMAC-SHA256 (RFC 2104) with the pads precomputed at migration time. SECURITY DEFINER
-- because the key table is readable by its owner only: service_role gets hashes, never the
-- key, so a copy of rate_limit_hits cannot be reversed by hashing every phone number.
CREATE OR REPLACE FUNCTION pgcanary_private.keyed_hash(value text)
RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    digest bytea;
BEGIN
    SELECT sha256(k.outer_pad || sha256(k.inner_pad || convert_to(value, 'UTF8'))) INTO digest
    FROM pgcanary_private.hash_keys AS k WHERE k.key_name = 'rate_limit';
    IF digest IS NULL AND value IS NOT NULL THEN
        -- Without a key every counter would read zero: refuse rather than admit everything.
        RAISE EXCEPTION 'the rate-limit hash key is missing from pgcanary_private.hash_keys'
            USING ERRCODE = 'PC028', HINT = 'Re-run migration 0003_guardrails or restore the row key_name = ''rate_limit''.';
    END IF;
    RETURN digest;
END
$$;
COMMENT ON FUNCTION pgcanary_private.keyed_hash(text) IS
    'HMAC-SHA256 of a value under the secret key in pgcanary_private.hash_keys (owner-only table).';

-- Scope -> normalised subject. "phone" and "*_phone" take phone numbers, "*_ip" an IPv4 or
-- IPv6 address (inet canonical text, so "::ffff:1.2.3.4" variants and zero-padded forms agree
-- where inet agrees); any other scope takes non-empty text as given.
CREATE OR REPLACE FUNCTION pgcanary_private.rate_limit_subject(scope text, subject text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE  -- not PARALLEL SAFE: its EXCEPTION block is a subtransaction (DESIGN.md §6)
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ip inet;
BEGIN
    IF scope = 'phone' OR scope LIKE '%\_phone' THEN
        RETURN pgcanary_private.normalize_phone(subject);
    ELSIF scope LIKE '%\_ip' THEN
        IF subject IS NOT NULL THEN
            BEGIN
                ip := subject::inet;
            EXCEPTION WHEN invalid_text_representation THEN
                ip := NULL;
            END;
        END IF;
        -- A network ("10.0.0.0/8") is not an address: one counter per host.
        IF ip IS NULL OR (family(ip) = 4 AND masklen(ip) <> 32) OR (family(ip) = 6 AND masklen(ip) <> 128) THEN
            RAISE EXCEPTION 'invalid IP address for rate-limit scope "%"', pgcanary_private.excerpt(scope)
                USING ERRCODE = 'PC028', HINT = 'Pass the client''s address as text, e.g. 203.0.113.7 or 2001:db8::1.';
        END IF;
        RETURN host(ip);
    ELSIF coalesce(btrim(subject), '') = '' THEN
        RAISE EXCEPTION 'rate-limit subject for scope "%" is empty', pgcanary_private.excerpt(scope)
            USING ERRCODE = 'PC028', HINT = 'Pass the value to limit (a user id, an API key name...).';
    END IF;
    RETURN subject;
END
$$;

-- Serialises every hit of one key, then counts the key's hits in each window of its scope.
-- Returns the exceeded windows (empty when the hit may proceed) and the moment of the check,
-- taken after the wait, which is the hit's time if the caller records it (in the same
-- transaction: the lock is held until commit, so the next caller of this key counts it).
--
-- Why a lock and two statements: under READ COMMITTED each statement takes a new snapshot,
-- so the count that follows pg_advisory_xact_lock sees every hit committed by the previous
-- holder. Lock and count in one statement would count from a snapshot taken before the wait
-- and over-admit. Under REPEATABLE READ the snapshot is older than the lock, so it is
-- refused (PC029); SERIALIZABLE is safe (a conflicting admission fails with 40001).
-- check_outbound_guardrails writes the same algorithm out (hot path); change both together.
CREATE OR REPLACE FUNCTION pgcanary_private.rate_limit_check(scope text, key_hash bytea,
                                                             OUT exceeded jsonb, OUT checked_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    windows interval[];
    maxima  integer[];
    longest interval;
    most    integer;
    recent  timestamptz[];
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'rate limits cannot be checked under REPEATABLE READ'
            USING ERRCODE = 'PC029',
                  HINT = 'Call it in a READ COMMITTED (the default) or SERIALIZABLE transaction: a repeatable-read snapshot misses hits committed while it waited and would over-admit.';
    END IF;
    SELECT array_agg(r.window_size ORDER BY r.window_size), array_agg(r.max_hits ORDER BY r.window_size),
           max(r.window_size), max(r.max_hits)
      INTO windows, maxima, longest, most
      FROM public.rate_limit_rules AS r WHERE r.scope = rate_limit_check.scope;
    -- Two int4 keys: a lock space apart from single-bigint advisory locks. Two keys sharing
    -- 32 bits only wait for each other; they never share a count.
    PERFORM pg_advisory_xact_lock(1885562721,  -- 'pgca'
                                  ('x' || encode(substr(rate_limit_check.key_hash, 1, 4), 'hex'))::bit(32)::integer);
    checked_at := clock_timestamp();
    exceeded := '[]';
    IF windows IS NULL THEN
        RETURN;
    END IF;
    -- One index scan: the key's newest hits, as many as the largest limit. A window of
    -- max_hits is full when the max_hits-th newest hit is inside it.
    recent := ARRAY(SELECT h.hit_at FROM public.rate_limit_hits AS h
                     WHERE h.key_hash = rate_limit_check.key_hash AND h.hit_at > checked_at - longest
                     ORDER BY h.hit_at DESC LIMIT most);
    FOR i IN 1 .. array_length(windows, 1) LOOP
        IF maxima[i] = 0 OR recent[maxima[i]] > checked_at - windows[i] THEN
            exceeded := exceeded || jsonb_build_object('window_size', windows[i], 'max_hits', maxima[i]);
        END IF;
    END LOOP;
END
$$;

------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.rate_limit_hit(scope text, subject text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_at   timestamptz;
    hit_key  bytea;
    exceeded jsonb;
    counts   jsonb;
    retry    numeric;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.rate_limit_rules AS r WHERE r.scope = rate_limit_hit.scope) THEN
        RAISE EXCEPTION 'unknown rate-limit scope: %', coalesce('"' || pgcanary_private.excerpt(rate_limit_hit.scope) || '"', 'null')
            USING ERRCODE = 'PC028', HINT = 'Scopes are the rows of rate_limit_rules: SELECT DISTINCT scope FROM rate_limit_rules;';
    END IF;
    hit_key := pgcanary_private.keyed_hash(
        rate_limit_hit.scope || ':' || pgcanary_private.rate_limit_subject(rate_limit_hit.scope, rate_limit_hit.subject));
    SELECT c.exceeded, c.checked_at INTO exceeded, now_at FROM pgcanary_private.rate_limit_check(rate_limit_hit.scope, hit_key) AS c;
    IF exceeded = '[]' THEN
        INSERT INTO public.rate_limit_hits (scope, key_hash, hit_at) VALUES (rate_limit_hit.scope, hit_key, now_at);
    ELSE
        -- A full window has room again when the hit that is max_hits-th newest leaves it;
        -- with several full windows, the longest wait wins.
        SELECT max(extract(epoch FROM (x.hit_at + r.window_size) - now_at)) INTO retry
          FROM public.rate_limit_rules AS r
          CROSS JOIN LATERAL (SELECT h.hit_at FROM public.rate_limit_hits AS h
                               WHERE h.key_hash = hit_key AND h.hit_at > now_at - r.window_size
                               ORDER BY h.hit_at DESC OFFSET r.max_hits - 1 LIMIT 1) AS x
         WHERE r.scope = rate_limit_hit.scope AND r.max_hits > 0;
    END IF;
    SELECT jsonb_agg(jsonb_build_object(
               'window_size', r.window_size, 'max_hits', r.max_hits,
               'hits', (SELECT count(*) FROM public.rate_limit_hits AS h
                         WHERE h.key_hash = hit_key AND h.hit_at > now_at - r.window_size))
           ORDER BY r.window_size)
      INTO counts
      FROM public.rate_limit_rules AS r WHERE r.scope = rate_limit_hit.scope;
    RETURN jsonb_build_object(
        'allowed', exceeded = '[]', 'scope', rate_limit_hit.scope, 'windows', counts, 'exceeded', exceeded,
        'retry_after_seconds', CASE WHEN exceeded <> '[]' THEN ceil(greatest(coalesce(retry, 0), 0)) END);
END
$$;
COMMENT ON FUNCTION public.rate_limit_hit(text, text) IS
    'One hit against every sliding window of a scope (rate_limit_rules): when all have room the hit is recorded and allowed is true; otherwise nothing is recorded. Exact under concurrent callers (per-key lock). Returns {allowed, scope, windows: [{window_size, max_hits, hits}], exceeded, retry_after_seconds}. Stores only a keyed hash of the subject.';

-- Hits older than the longest window of their scope can no longer count. Hits of a scope
-- whose rules were deleted count for nothing and go at once.
CREATE OR REPLACE FUNCTION public.cleanup_rate_limits()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deleted bigint;
BEGIN
    DELETE FROM public.rate_limit_hits AS h
     WHERE h.hit_at < clock_timestamp() - coalesce(
               (SELECT max(r.window_size) FROM public.rate_limit_rules AS r WHERE r.scope = h.scope),
               interval '0');
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION public.cleanup_rate_limits() IS
    'Deletes rate-limit hits older than their scope''s longest window (they no longer count). Returns the number deleted. The scheduler calls it, e.g. every 10 minutes.';

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.rate_limit_hit(text, text)', 'public.cleanup_rate_limits()'
]::regprocedure[]);
