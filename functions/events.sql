SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Business events: validation against the registry, PII scrubbing, emission under the
-- rollout, the generic trigger, partition maintenance, the hourly rollup and the rollout
-- metrics. Docs: docs/events.md. Tests: tests/sql/events.test.sql, tests/py/test_events*.py.
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC010 unknown event type              PC011 invalid event (NULL type, props not an object, bad batch)
--   PC012 event props too large           PC013 emit_event_trigger misconfigured
--   PC014 invalid maintenance argument    PC019 business_events exists already (db/0002)
--
-- The same rules for every row, in two places (db/0006 says why): the writers (emit_event,
-- emit_events, record_event, which emit_event_trigger calls) run as pgcanary_writer and
-- validate and scrub inside their INSERT; the table's BEFORE triggers
-- (business_events_before_insert / _before_update, both running business_events_before_write)
-- do it for every other row: a raw INSERT or UPDATE in the SQL Editor, any other writer.

------------------------------------------------------------------------------------------
-- PII. A phone number is kept only as telefone_prefix: its first 4 digits. Four digits are
-- the country and area code of an E.164 Brazilian number ("+55 11 9...." -> "5511"): enough
-- to see the region of a problem, while each prefix is shared by millions of lines. The
-- digits are the canonical ones (functions/phone.sql), so every spelling of a number gives
-- one prefix ("(11) 98765-4321" and "+55 11 98765-4321" both "5511"); a value that is not
-- one phone number keeps the first 4 digits it has.
CREATE OR REPLACE FUNCTION pgcanary_private.phone_prefix(phone text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT nullif(left(coalesce(pgcanary_private.phone_e164(phone),
                                  regexp_replace(split_part(phone, '@', 1), '[^0-9]', '', 'g')), 4), '') $$;
COMMENT ON FUNCTION pgcanary_private.phone_prefix(text) IS
    'The first 4 digits of a phone number''s canonical E.164 form (country + area code of a Brazilian number); NULL when it has no digits.';

-- Walks a JSON value; `phone` is true under a phone key, where every string or number leaf
-- is a phone. Rules (docs/events.md, "No PII"):
--   * a key named like a phone (telefone, phone, celular, whatsapp, wa_id, ...) holding a
--     string or number is removed and its prefix stored as telefone_prefix;
--   * any other string or integer that is one whole phone number (is_phone_value: any
--     spelling phone_e164 reads, or 10-15 digits with phone punctuation) is treated the same;
--   * any other string, and every key, is free text: scrub_text (functions/pii.sql) turns the
--     numbers inside it into their prefix ("ligou do 11 98765-4321" -> "ligou do 5511…");
--   * nested objects get their own telefone_prefix; in arrays a phone becomes its prefix;
--   * when several phones share an object, the first in jsonb key order gives the prefix.
CREATE OR REPLACE FUNCTION pgcanary_private.is_phone_value(value jsonb)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN CASE jsonb_typeof(value)
        WHEN 'string' THEN pgcanary_private.phone_e164(value #>> '{}') IS NOT NULL
                           OR ((value #>> '{}') ~ '^\s*\+?[0-9 ().-]{10,}(@[A-Za-z0-9.]+)?\s*$'
                               AND length(regexp_replace(split_part(value #>> '{}', '@', 1), '[^0-9]', '', 'g')) BETWEEN 10 AND 15)
        WHEN 'number' THEN value::text ~ '^[0-9]{10,15}$'
        ELSE false END;
END
$$;
COMMENT ON FUNCTION pgcanary_private.is_phone_value(jsonb) IS
    'True when a JSON string or number is one whole phone number (any spelling phone_e164 reads, or 10-15 digits with phone punctuation).';

CREATE OR REPLACE FUNCTION pgcanary_private.scrub_pii_walk(value jsonb, phone boolean)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    phone_keys constant text[] := ARRAY['telefone', 'telefone_prefix', 'telefone_cliente', 'telefone_medico',
        'phone', 'phone_number', 'phonenumber', 'celular', 'whatsapp', 'whatsapp_number', 'wa_id', 'msisdn',
        'mobile', 'fone', 'tel', 'remote_jid', 'remotejid', 'numero_telefone'];
    k      text;
    v      jsonb;
    t      text;
    prefix text;
    result jsonb;
BEGIN
    t := jsonb_typeof(value);
    IF t IN ('string', 'number') THEN
        IF phone OR pgcanary_private.is_phone_value(value) THEN
            RETURN to_jsonb(coalesce(pgcanary_private.phone_prefix(value #>> '{}'), ''));
        ELSIF t = 'string' THEN
            RETURN to_jsonb(pgcanary_private.scrub_text(value #>> '{}'));  -- a number inside free text
        END IF;
        RETURN value;
    ELSIF t = 'array' THEN
        RETURN (SELECT coalesce(jsonb_agg(pgcanary_private.scrub_pii_walk(e.value, phone) ORDER BY e.ord), '[]')
                FROM jsonb_array_elements(value) WITH ORDINALITY AS e(value, ord));
    ELSIF t <> 'object' THEN
        RETURN value;
    END IF;
    result := '{}';
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(value) AS e LOOP
        t := jsonb_typeof(v);
        IF t IN ('string', 'number') AND (phone OR lower(k) = ANY (phone_keys) OR pgcanary_private.is_phone_value(v)) THEN
            -- a phone: dropped, its prefix kept
            prefix := coalesce(prefix, nullif(pgcanary_private.scrub_pii_walk(v, true) #>> '{}', ''));
        ELSE
            -- keys are free text too: {"5511987654321": ...} keeps no number
            result := result || jsonb_build_object(pgcanary_private.scrub_text(k),
                                                   pgcanary_private.scrub_pii_walk(v, phone OR lower(k) = ANY (phone_keys)));
        END IF;
    END LOOP;
    IF prefix IS NOT NULL THEN
        result := result || jsonb_build_object('telefone_prefix', prefix);
    END IF;
    RETURN result;
END
$$;

-- Fast path: props that the walk would leave unchanged, told by one expression in C. It is
-- a superset test: it may send clean props to the walk, never props the walk would change.
-- Clean means
--   * no top-level key is a phone key, except a "telefone_prefix" already cut to 1-4 digits
--     (the guardrail's outbound_blocked events carry one);
--   * in the text form: no run of 8+ phone characters, ASCII or the Unicode digits
--     phone_e164 reads (every phone-looking value, and every number in free text, is one),
--     no letter that lower() turns into a different a-z letter (so that every key compared
--     above was already lower case, as the walk compares them): A-Z, and U+0130 and U+212A,
--     which glibc lowers to i and k; and no nested object or array (the key test sees one
--     level).
-- The list of keys repeats scrub_pii_walk's phone_keys without telefone_prefix; a test
-- feeds every key of the walk, in both cases, to this function.
-- Why not one regex over the text (the previous form): PG's regex engine took ~17 us per
-- row for the stem alternation with a lookahead; this takes under 1.
-- plpgsql, not sql: a SET search_path sql function is planned again on every call (~30 us,
-- which is why the writers once held copies of this body); plpgsql keeps the plan for the
-- session, so the writers call scrub_pii and the rule is written once.
CREATE OR REPLACE FUNCTION pgcanary_private.props_pii_free(event_props jsonb)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN NOT event_props ?| '{telefone,telefone_cliente,telefone_medico,phone,phone_number,phonenumber,celular,whatsapp,whatsapp_number,wa_id,msisdn,mobile,fone,tel,remote_jid,remotejid,numero_telefone}'::text[]
       AND coalesce(event_props ->> 'telefone_prefix' ~ '^[0-9]{1,4}$' AND jsonb_typeof(event_props -> 'telefone_prefix') = 'string',
                    NOT event_props ? 'telefone_prefix')
       AND event_props::text !~ '[0-9\uFF10-\uFF19\u0660-\u0669\u06F0-\u06F9\u0966-\u096F][0-9\uFF10-\uFF19\u0660-\u0669\u06F0-\u06F9\u0966-\u096F ().+\u00A0\u202F-]{6,}[0-9\uFF10-\uFF19\u0660-\u0669\u06F0-\u06F9\u0966-\u096F]|[A-Z\u0130\u212A]|.[[{]';
END
$$;
COMMENT ON FUNCTION pgcanary_private.props_pii_free(jsonb) IS
    'True when scrub_pii would return these props unchanged (a fast superset test: false sends them to the walk).';

CREATE OR REPLACE FUNCTION pgcanary_private.scrub_pii(event_props jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pgcanary_private.props_pii_free(event_props) THEN
        RETURN event_props;
    END IF;
    PERFORM pgcanary_private.check_json_depth(event_props, 'event_props');
    RETURN pgcanary_private.scrub_pii_walk(event_props, false);
END
$$;
COMMENT ON FUNCTION pgcanary_private.scrub_pii(jsonb) IS
    'Event props without phone numbers: phone keys and phone-looking values, at any depth, become telefone_prefix (first 4 digits). Idempotent.';

------------------------------------------------------------------------------------------
-- Validation, shared by every path. Errors never echo props (they may hold PII).
CREATE OR REPLACE FUNCTION pgcanary_private.validate_event(event_type text, event_props jsonb)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    size integer;
BEGIN
    IF event_type IS NULL THEN
        RAISE EXCEPTION 'event_type is required'
            USING ERRCODE = 'PC011', HINT = 'Pass a registered type, for example ''outbound_blocked''; list them with SELECT event_type FROM business_event_types;';
    END IF;
    PERFORM FROM public.business_event_types AS t WHERE t.event_type = validate_event.event_type;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown event type "%"', pgcanary_private.excerpt(event_type)
            USING ERRCODE = 'PC010',
                  HINT = format('Register it first: SELECT register_event_type(%L, ''<category>'', ''<what it means>''); list the known types with SELECT event_type FROM business_event_types;', pgcanary_private.excerpt(event_type));
    END IF;
    IF event_props IS NULL THEN
        RETURN;  -- absent props are {}
    END IF;
    IF jsonb_typeof(event_props) <> 'object' THEN
        RAISE EXCEPTION 'event_props must be a JSON object, got a JSON %', jsonb_typeof(event_props)
            USING ERRCODE = 'PC011', HINT = 'For example {"block_reason": "opted_out", "channel": "whatsapp", "method": "campaign"}.';
    END IF;
    size := pg_column_size(event_props);
    IF size > 8192 THEN
        RAISE EXCEPTION 'event_props is % bytes, over the 8192-byte limit', size
            USING ERRCODE = 'PC012', HINT = 'Events carry small facts (ids, reasons, counters); keep payloads and message texts out of them.';
    END IF;
END
$$;
COMMENT ON FUNCTION pgcanary_private.validate_event(text, jsonb) IS
    'Raises PC011 for a NULL type or non-object props, PC010 for an unregistered type, PC012 for props over 8 KiB.';

-- A row of an hour the rollup has already sealed (a backdated INSERT) is noted in
-- business_event_late (append-only, so writers never wait on each other); the metrics add
-- those notes and refresh_event_rollup folds them in. The shared advisory lock keeps this
-- from interleaving with a refresh (docs/events.md, "Rollout metrics").
CREATE OR REPLACE FUNCTION pgcanary_private.count_late_event(ts timestamptz, event_type text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ts < now() - interval '26 hours' THEN
        RETURN;  -- older than any window the rollup serves
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(7062636172790001);
    IF ts < (SELECT s.sealed_until FROM pgcanary_private.business_event_rollup_state AS s) THEN
        INSERT INTO pgcanary_private.business_event_late (hour, event_type)
        VALUES (date_trunc('hour', ts, 'UTC'), count_late_event.event_type);
    END IF;
END
$$;

-- The one path of every row that needs anything (see business_events_before_insert's WHEN
-- below). The first test only accepts what validate_event accepts; when it fails,
-- validate_event decides and raises its error (one set of rules and messages). The source
-- rule was a CHECK constraint until db/0006 (which says why it moved here).
CREATE OR REPLACE FUNCTION pgcanary_private.business_events_before_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT coalesce(char_length(NEW.source) BETWEEN 1 AND 63, false) THEN
        RAISE EXCEPTION 'source must be 1 to 63 characters, got %', coalesce(char_length(NEW.source) || ' characters', 'null')
            USING ERRCODE = 'PC011', HINT = 'Name the writer: backend, trigger, sql, or a capability such as guardrails.';
    END IF;
    PERFORM pgcanary_private.refuse_phone_in_key('business_events.source', NEW.source,
        'Name the writer: backend, trigger, sql, or a capability such as guardrails.');
    IF jsonb_typeof(NEW.event_props) IS DISTINCT FROM 'object' OR pg_column_size(NEW.event_props) > 8192
       OR NOT EXISTS (SELECT FROM public.business_event_types AS t WHERE t.event_type = NEW.event_type) THEN
        PERFORM pgcanary_private.validate_event(NEW.event_type, NEW.event_props);
    END IF;
    IF NEW.event_props IS NULL THEN
        NEW.event_props := '{}';
    ELSE
        NEW.event_props := pgcanary_private.scrub_pii(NEW.event_props);
    END IF;
    -- A backdated row may land in an hour (or 5-minute bucket) a rollup has sealed: noted for
    -- the rollups. Not when the row is there already: the insert will then fail or be skipped
    -- (ON CONFLICT DO NOTHING) and must not be counted twice. (Two transactions inserting the
    -- same event_id and ts at once can still both note it; only a replayed event does that.)
    IF TG_OP = 'INSERT' AND NEW.ts < clock_timestamp() - interval '5 minutes'
       AND NOT EXISTS (SELECT FROM public.business_events AS e WHERE e.event_id = NEW.event_id AND e.ts = NEW.ts) THEN
        PERFORM pgcanary_private.count_late_event(NEW.ts, NEW.event_type);
        -- The health rollup's 5-minute buckets (functions/health.sql, governance) have the
        -- same problem; the call is skipped while that capability is rolled back.
        IF to_regprocedure('pgcanary_private.note_health_late(uuid, timestamptz)') IS NOT NULL THEN
            PERFORM pgcanary_private.note_health_late(NEW.event_id, NEW.ts);
        END IF;
    END IF;
    RETURN NEW;
END
$$;

-- Which rows the trigger function checks: every row not written by pgcanary_writer. Rows of
-- pgcanary_writer were validated and scrubbed by the statement that wrote them (record_event,
-- emit_event, emit_events run as that role; db/0006 says why nobody else can), and carry
-- ts = clock_timestamp(), so they are never backdated. The WHEN clause holds no constant
-- worth parsing: Postgres parses it again for every statement, and the previous one (the
-- type list and the PII test) cost ~20 us per one-row insert.
DROP FUNCTION IF EXISTS pgcanary_private.sync_event_type_trigger();
DROP TRIGGER IF EXISTS business_events_before_write ON public.business_events;
CREATE OR REPLACE TRIGGER business_events_before_insert
    BEFORE INSERT ON public.business_events
    FOR EACH ROW WHEN (current_user <> 'pgcanary_writer')
    EXECUTE FUNCTION pgcanary_private.business_events_before_write();
-- Updates are rare (events are append-only for service_role): always checked.
CREATE OR REPLACE TRIGGER business_events_before_update
    BEFORE UPDATE ON public.business_events
    FOR EACH ROW EXECUTE FUNCTION pgcanary_private.business_events_before_write();

------------------------------------------------------------------------------------------
-- The rollout of backend events, as a gate row (db/0006): what should_emit_event decides,
-- rule for rule, written as "bucket < percentage, or in force_on". It is recomputed by a
-- statement trigger on feature_flags in the transaction of every flag write; flag writes
-- are serialised by feature_flags_lock_statement, and this runs after the statement with a
-- fresh snapshot, so it always reads the latest committed flags. tests/sql/events.test.sql
-- compares emit_event and emit_events with should_emit_event under 26 kinds of flag values.
-- SECURITY DEFINER: flag writers (service_role, the SQL Editor) hold no grant on the gate.
CREATE OR REPLACE FUNCTION pgcanary_private.refresh_event_gate()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    master  jsonb;
    kind    text;
    is_on   boolean;
    pct     smallint;
    ids     text[];
    flag_salt text;
    percent integer := 0;            -- nobody, unless a rule below says otherwise
    allow   jsonb := '[]'::jsonb;
    salt_   text;
BEGIN
    SELECT f.value INTO master FROM public.feature_flags AS f WHERE f.flag_key = 'business_events_enabled';
    -- The canary as evaluate_flag reads it: the columns generated by flag_state (db/0017).
    SELECT f.eval_kind, f.eval_on, f.eval_pct, f.eval_force_on, f.eval_salt INTO kind, is_on, pct, ids, flag_salt
      FROM public.feature_flags AS f WHERE f.flag_key = 'business_events_canary';
    IF master IS NOT NULL AND master <> 'true'::jsonb AND (master -> 'enabled') IS DISTINCT FROM 'true'::jsonb THEN
        NULL;  -- the master switch is off
    ELSIF kind = 'boolean' THEN
        percent := CASE WHEN is_on THEN 100 ELSE 0 END;
    ELSIF kind IS DISTINCT FROM 'object' OR NOT is_on THEN
        NULL;  -- no row, off, or unreadable: fails closed
    ELSE
        allow := to_jsonb(ids);
        salt_ := flag_salt;
        percent := pct;
    END IF;
    -- Written only when it changes: most flag writes (pausar_julia, other canaries) leave
    -- it alone, and then a REPEATABLE READ or SERIALIZABLE flag writer does not touch the row
    -- a concurrent writer may have changed (which would fail with 40001).
    IF EXISTS (SELECT FROM pgcanary_private.business_event_gate AS g
                WHERE g.cohort = 'business_events' AND g.percentage = percent
                  AND g.salt IS NOT DISTINCT FROM salt_ AND g.force_on = allow) THEN
        RETURN;
    END IF;
    INSERT INTO pgcanary_private.business_event_gate AS g (cohort, percentage, salt, force_on, refreshed_at)
    VALUES ('business_events', percent, salt_, allow, clock_timestamp())
    ON CONFLICT (cohort) DO UPDATE
       SET percentage = EXCLUDED.percentage, salt = EXCLUDED.salt, force_on = EXCLUDED.force_on,
           refreshed_at = EXCLUDED.refreshed_at;
END
$$;
COMMENT ON FUNCTION pgcanary_private.refresh_event_gate() IS
    'Recomputes business_event_gate from feature_flags (business_events_enabled, business_events_canary); run by a statement trigger on every flag write and by migrate. Harmless to call (after restoring feature_flags with triggers off, call it).';

CREATE OR REPLACE FUNCTION pgcanary_private.feature_flags_event_gate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pgcanary_private.refresh_event_gate();
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER feature_flags_event_gate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.feature_flags
    FOR EACH STATEMENT EXECUTE FUNCTION pgcanary_private.feature_flags_event_gate();
SELECT pgcanary_private.refresh_event_gate();

------------------------------------------------------------------------------------------
-- Emission. The three writers run as pgcanary_writer (SECURITY DEFINER, db/0006): each
-- validates and scrubs its rows inside the INSERT that writes them, so that the table's
-- trigger can let them through (see business_events_before_insert).
--   * The INSERT takes the type from the registry, so an unknown type, props that are not an
--     object or over the limit write nothing; validate_event then says which rule was broken
--     (one set of messages).
--   * Rows carry the moment they were written (clock_timestamp()), not the start of the
--     caller's transaction: a row is never older than its insert, so it never needs the late
--     path of the trigger function (count_late_event, note_health_late).

-- The contract other capabilities use (guardrails, outbox, emit_event_trigger): always
-- writes, no rollout gate (a safety event must never be dropped by the canary).
CREATE OR REPLACE FUNCTION pgcanary_private.record_event(event_type text, cliente_id uuid, conversation_id uuid,
                                                         event_props jsonb, source text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    props jsonb := coalesce(record_event.event_props, '{}'::jsonb);
    src   text := coalesce(record_event.source, 'backend');
    id    uuid;
BEGIN
    INSERT INTO public.business_events (ts, event_type, cliente_id, conversation_id, event_props, source)
    SELECT clock_timestamp(), t.event_type, record_event.cliente_id, record_event.conversation_id,
           pgcanary_private.scrub_pii(props),
           src
      FROM public.business_event_types AS t
     WHERE t.event_type = record_event.event_type
       AND jsonb_typeof(props) = 'object' AND pg_column_size(props) <= 8192 AND char_length(src) BETWEEN 1 AND 63
    RETURNING business_events.event_id INTO id;
    IF id IS NULL THEN
        PERFORM pgcanary_private.validate_event(record_event.event_type, props);
        RAISE EXCEPTION 'source must be 1 to 63 characters, got %', char_length(src)
            USING ERRCODE = 'PC011', HINT = 'Name the writer: backend, trigger, sql, or a capability such as guardrails.';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION pgcanary_private.record_event(text, uuid, uuid, jsonb, text) IS
    'Writes one business event whatever the rollout (for safety events: guardrails, outbox). Validates (PC010-PC012), scrubs phones, returns event_id.';

-- Hot path: one INSERT that reads the rollout's gate row (refresh_event_gate), the type's
-- registry row and the props, and writes the event when the client is in. Nothing is
-- written when the rollout skips the client, and then validate_event still refuses bad
-- input. Events without a cliente_id are always written (seed 8.2).
CREATE OR REPLACE FUNCTION public.emit_event(event_type text, cliente_id uuid DEFAULT NULL,
                                             conversation_id uuid DEFAULT NULL, event_props jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    props jsonb := coalesce(emit_event.event_props, '{}'::jsonb);
    id    uuid;
BEGIN
    INSERT INTO public.business_events (ts, event_type, cliente_id, conversation_id, event_props, source)
    SELECT clock_timestamp(), t.event_type, emit_event.cliente_id, emit_event.conversation_id,
           pgcanary_private.scrub_pii(props),
           'backend'
      FROM public.business_event_types AS t
      LEFT JOIN pgcanary_private.business_event_gate AS g ON g.cohort = 'business_events'
     WHERE t.event_type = emit_event.event_type
       AND jsonb_typeof(props) = 'object' AND pg_column_size(props) <= 8192
       AND (emit_event.cliente_id IS NULL OR g.percentage >= 100 OR g.force_on ? emit_event.cliente_id::text
            OR (('x' || substr(md5(coalesce(g.salt || ':', '') || emit_event.cliente_id::text), 1, 8))::bit(32)::bigint % 100)
               < g.percentage)
    RETURNING business_events.event_id INTO id;
    IF id IS NULL THEN
        -- Skipped by the rollout (a missing gate row skips everyone), or refused.
        PERFORM pgcanary_private.validate_event(emit_event.event_type, props);
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION public.emit_event(text, uuid, uuid, jsonb) IS
    'Seed 8.2: emits a business event from the backend, respecting the rollout (should_emit_event) when it has a cliente_id. Returns the event_id, or NULL when the rollout skips it. PC010 unknown type, PC011 bad input, PC012 props over 8 KiB.';

-- Batch form: [{"event_type": ..., "cliente_id": ..., "conversation_id": ..., "event_props": {...}}, ...].
-- All or nothing: one bad element refuses the whole batch, naming its position (1-based).
-- Returns the ids in input order, NULL where the rollout skipped the event.
CREATE OR REPLACE FUNCTION public.emit_events(events jsonb)
RETURNS uuid[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    uuid_re constant text := '^\s*\{?[0-9a-fA-F]{4}(-?[0-9a-fA-F]{4}){7}\}?\s*$';
    element_hint constant text := 'Each element: {"event_type": "<registered type>", "cliente_id": "<uuid or null>", "conversation_id": "<uuid or null>", "event_props": {...}}.';
    bad     record;
    ids     uuid[];
BEGIN
    IF events IS NULL OR jsonb_typeof(events) <> 'array' THEN
        RAISE EXCEPTION 'events must be a JSON array of event objects, got %', coalesce('a JSON ' || jsonb_typeof(events), 'NULL')
            USING ERRCODE = 'PC011', HINT = '[{"event_type": "outbound_sent", "cliente_id": "<uuid>", "event_props": {"method": "campaign"}}]';
    END IF;
    IF jsonb_array_length(events) > 100000 THEN
        RAISE EXCEPTION 'a batch holds at most 100000 events, got %', jsonb_array_length(events)
            USING ERRCODE = 'PC011', HINT = 'Split the batch.';
    END IF;
    -- Every element is checked, including those the rollout will skip. The registry is hash
    -- joined; UUID syntax is left to the casts below, which name the element when they fail.
    SELECT x.ord, x.problem, x.event_type INTO bad
    FROM (SELECT t.ord, t.e ->> 'event_type' AS event_type,
                 CASE WHEN jsonb_typeof(t.e) <> 'object' THEN 'is not a JSON object'
                      WHEN jsonb_typeof(t.e -> 'event_type') IS DISTINCT FROM 'string' THEN 'has no event_type string'
                      WHEN jsonb_typeof(t.e -> 'cliente_id') NOT IN ('string', 'null') THEN 'has a cliente_id that is not a UUID'
                      WHEN jsonb_typeof(t.e -> 'conversation_id') NOT IN ('string', 'null') THEN 'has a conversation_id that is not a UUID'
                      WHEN jsonb_typeof(t.e -> 'event_props') NOT IN ('object', 'null') THEN 'has event_props that are not a JSON object'
                      WHEN r.event_type IS NULL THEN 'unknown'
                      WHEN pg_column_size(t.e -> 'event_props') > 8192 THEN 'too large'
                 END AS problem
          FROM jsonb_array_elements(events) WITH ORDINALITY AS t(e, ord)
          LEFT JOIN public.business_event_types AS r ON r.event_type = t.e ->> 'event_type') AS x
    WHERE x.problem IS NOT NULL
    ORDER BY x.ord
    LIMIT 1;
    IF bad.problem = 'unknown' THEN
        RAISE EXCEPTION 'events[%]: unknown event type "%"', bad.ord, pgcanary_private.excerpt(bad.event_type)
            USING ERRCODE = 'PC010',
                  HINT = format('Register it first: SELECT register_event_type(%L, ''<category>'', ''<what it means>'');', pgcanary_private.excerpt(bad.event_type));
    ELSIF bad.problem = 'too large' THEN
        RAISE EXCEPTION 'events[%]: event_props over the 8192-byte limit', bad.ord
            USING ERRCODE = 'PC012', HINT = 'Events carry small facts (ids, reasons, counters); keep payloads and message texts out of them.';
    ELSIF bad.problem IS NOT NULL THEN
        RAISE EXCEPTION 'events[%] %', bad.ord, bad.problem
            USING ERRCODE = 'PC011', HINT = element_hint;
    END IF;

    -- The rollout's gate row is read once for the batch (as emit_event reads it per call).
    BEGIN
        WITH input AS MATERIALIZED (
            SELECT t.ord, t.e ->> 'event_type' AS event_type, (t.e ->> 'cliente_id')::uuid AS cliente_id,
                   (t.e ->> 'conversation_id')::uuid AS conversation_id,
                   coalesce(nullif(t.e -> 'event_props', 'null'), '{}'::jsonb) AS props
            FROM jsonb_array_elements(events) WITH ORDINALITY AS t(e, ord)
        ), gated AS MATERIALIZED (
            SELECT i.*, CASE WHEN i.cliente_id IS NULL OR g.percentage >= 100 OR g.force_on ? i.cliente_id::text
                                  OR (('x' || substr(md5(coalesce(g.salt || ':', '') || i.cliente_id::text), 1, 8))::bit(32)::bigint % 100)
                                     < g.percentage
                             THEN gen_random_uuid() END AS event_id
            FROM input AS i
            LEFT JOIN pgcanary_private.business_event_gate AS g ON g.cohort = 'business_events'
        ), written AS (
            INSERT INTO public.business_events (event_id, ts, event_type, cliente_id, conversation_id, event_props, source)
            SELECT w.event_id, clock_timestamp(), w.event_type, w.cliente_id, w.conversation_id,
                   pgcanary_private.scrub_pii(props),
                   'backend'
            FROM gated AS w WHERE w.event_id IS NOT NULL
            ORDER BY w.ord
        )
        SELECT coalesce(array_agg(g.event_id ORDER BY g.ord), '{}') INTO ids FROM gated AS g;
    EXCEPTION WHEN invalid_text_representation THEN
        -- A cliente_id or conversation_id that is not a UUID: name the first one. (The
        -- regex runs only here; it is looser than it could be, and when it finds nothing
        -- the original error stands.)
        SELECT t.ord, CASE WHEN NOT coalesce((t.e ->> 'cliente_id') ~ uuid_re, true) THEN 'cliente_id' ELSE 'conversation_id' END AS field
          INTO bad
        FROM jsonb_array_elements(events) WITH ORDINALITY AS t(e, ord)
        WHERE NOT coalesce((t.e ->> 'cliente_id') ~ uuid_re, true) OR NOT coalesce((t.e ->> 'conversation_id') ~ uuid_re, true)
        ORDER BY t.ord
        LIMIT 1;
        IF bad.ord IS NULL THEN
            RAISE;
        END IF;
        RAISE EXCEPTION 'events[%] has a % that is not a UUID', bad.ord, bad.field
            USING ERRCODE = 'PC011', HINT = element_hint;
    END;
    RETURN ids;
END
$$;
COMMENT ON FUNCTION public.emit_events(jsonb) IS
    'Batch emit_event: a JSON array of {event_type, cliente_id, conversation_id, event_props}. All or nothing (the first bad element is named); returns ids in input order, NULL where the rollout skipped.';

CREATE OR REPLACE FUNCTION public.register_event_type(event_type text, category text, description text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    existed boolean;
BEGIN
    IF event_type IS NULL OR event_type !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'event type "%" is not a valid name', coalesce(pgcanary_private.excerpt(event_type), 'NULL')
            USING ERRCODE = 'PC011', HINT = 'Lowercase snake_case, starting with a letter, at most 63 characters: outbound_sent, offer_made.';
    END IF;
    IF category IS NULL OR category !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'category "%" is not a valid name', coalesce(pgcanary_private.excerpt(category), 'NULL')
            USING ERRCODE = 'PC011', HINT = 'Lowercase snake_case such as guardrail, outbox, handoff, consent, funnel, ops.';
    END IF;
    IF coalesce(btrim(description), '') = '' THEN
        RAISE EXCEPTION 'a description is required'
            USING ERRCODE = 'PC011', HINT = 'Say what the event means and which props it carries.';
    END IF;
    existed := EXISTS (SELECT FROM public.business_event_types AS t WHERE t.event_type = register_event_type.event_type);
    INSERT INTO public.business_event_types AS t (event_type, category, description)
    VALUES (register_event_type.event_type, register_event_type.category, register_event_type.description)
    ON CONFLICT ON CONSTRAINT business_event_types_pkey
    DO UPDATE SET category = EXCLUDED.category, description = EXCLUDED.description;
    RETURN NOT existed;  -- usable at once: every path reads the registry itself
END
$$;
COMMENT ON FUNCTION public.register_event_type(text, text, text) IS
    'Registers an event type (or updates its category and description of an existing one). True when the type is new.';

------------------------------------------------------------------------------------------
-- The generic trigger. Attach it to any table to write an event per row; always active
-- (the rollout gates backend emitters only, seed 8.2). Arguments:
--   1: the event type (registered);  then any of, as 'name=value':
--   cliente_id=<column>   conversation_id=<column>   props=<column>[,<column>...]
-- Example:
--   CREATE TRIGGER handoff_opened_event AFTER INSERT ON public.handoffs FOR EACH ROW
--   EXECUTE FUNCTION pgcanary_private.emit_event_trigger('handoff_opened', 'cliente_id=medico_id',
--                                                        'conversation_id=conversa_id', 'props=vaga_id,status');
-- props also get "operation" (insert/update/delete) and "source_table". A misconfiguration
-- (bad argument, unknown column, unregistered type) raises on the first write, where tests
-- see it; data never makes it fail (props over the limit are replaced by a marker).
-- SECURITY DEFINER: the event must be written whoever writes the table (an authenticated
-- user writing their own rows holds no grant on business_events). Nobody can call it
-- directly (a trigger function), and EXECUTE is revoked from everyone but its owner.
CREATE OR REPLACE FUNCTION pgcanary_private.emit_event_trigger()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    uuid_re constant text := '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$';
    tbl     constant text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    row     jsonb;
    arg     text;
    name    text;
    col     text;
    val     text;
    client  uuid;
    conv    uuid;
    props   jsonb;
BEGIN
    IF TG_LEVEL <> 'ROW' OR TG_NARGS < 1 THEN
        RAISE EXCEPTION 'emit_event_trigger on %: needs FOR EACH ROW and an event type argument', tbl
            USING ERRCODE = 'PC013',
                  HINT = 'CREATE TRIGGER ... AFTER INSERT ON <table> FOR EACH ROW EXECUTE FUNCTION pgcanary_private.emit_event_trigger(''<event_type>'', ''cliente_id=<column>'', ''props=<column>,<column>'');';
    END IF;
    row := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    props := jsonb_build_object('operation', lower(TG_OP), 'source_table', tbl);
    FOR i IN 1 .. TG_NARGS - 1 LOOP
        arg := TG_ARGV[i];
        name := split_part(arg, '=', 1);
        IF name NOT IN ('cliente_id', 'conversation_id', 'props') OR position('=' IN arg) = 0 THEN
            RAISE EXCEPTION 'emit_event_trigger on %: argument "%" is not cliente_id=<column>, conversation_id=<column> or props=<columns>', tbl, arg
                USING ERRCODE = 'PC013', HINT = 'Arguments after the event type are name=value pairs, for example ''cliente_id=medico_id''.';
        END IF;
        FOREACH col IN ARRAY string_to_array(substr(arg, length(name) + 2), ',') LOOP
            col := btrim(col);
            IF NOT row ? col THEN
                RAISE EXCEPTION 'emit_event_trigger on %: column "%" does not exist', tbl, col
                    USING ERRCODE = 'PC013', HINT = format('Columns of %s: %s', tbl, (SELECT string_agg(k, ', ') FROM jsonb_object_keys(row) AS k));
            END IF;
            IF name = 'props' THEN
                props := props || jsonb_build_object(col, row -> col);
                CONTINUE;
            END IF;
            val := row ->> col;
            IF val IS NOT NULL AND val !~ uuid_re THEN
                RAISE EXCEPTION 'emit_event_trigger on %: column "%" mapped to % does not hold a UUID', tbl, col, name
                    USING ERRCODE = 'PC013', HINT = 'Map cliente_id and conversation_id to uuid columns.';
            END IF;
            IF name = 'cliente_id' THEN client := val::uuid; ELSE conv := val::uuid; END IF;
        END LOOP;
    END LOOP;
    IF pg_column_size(props) > 8192 THEN
        RAISE WARNING 'emit_event_trigger on %: props over 8192 bytes replaced by a marker', tbl;
        props := jsonb_build_object('operation', lower(TG_OP), 'source_table', tbl, 'props_dropped', 'too_large');
    END IF;
    PERFORM pgcanary_private.record_event(TG_ARGV[0], client, conv, props, 'trigger');
    RETURN CASE WHEN TG_WHEN = 'BEFORE' THEN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END END;
END
$$;
COMMENT ON FUNCTION pgcanary_private.emit_event_trigger() IS
    'Generic AFTER/BEFORE ROW trigger writing a business event (source trigger, never gated by the rollout). Args: event_type, then cliente_id=<col>, conversation_id=<col>, props=<col>,<col>.';

------------------------------------------------------------------------------------------
-- Partitions: one per UTC day, in pgcanary_private (PostgREST does not expose it).
CREATE OR REPLACE FUNCTION pgcanary_private.create_event_partition(day date)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    name constant text := 'business_events_p' || to_char(day, 'YYYYMMDD');
    lo   constant timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi   constant timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(format('pgcanary_private.%I', name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT FROM pgcanary_private.business_events_default AS d WHERE d.ts >= lo AND d.ts < hi) THEN
        -- Rows of that day wait in the default partition: move them, then attach (creating
        -- the partition directly would fail on them).
        EXECUTE format('CREATE TABLE pgcanary_private.%I (LIKE public.business_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        EXECUTE format('WITH moved AS (DELETE FROM pgcanary_private.business_events_default AS d WHERE d.ts >= $1 AND d.ts < $2 RETURNING d.*) '
                       'INSERT INTO pgcanary_private.%I SELECT * FROM moved', name) USING lo, hi;
        EXECUTE format('ALTER TABLE public.business_events ATTACH PARTITION pgcanary_private.%I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    ELSE
        EXECUTE format('CREATE TABLE pgcanary_private.%I PARTITION OF public.business_events FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    END IF;
    EXECUTE format('ALTER TABLE pgcanary_private.%I ENABLE ROW LEVEL SECURITY', name);
    EXECUTE format('REVOKE ALL ON TABLE pgcanary_private.%I FROM PUBLIC, anon, authenticated, service_role', name);
    RETURN name;
END
$$;

CREATE OR REPLACE FUNCTION pgcanary_private.ensure_event_partitions(from_day date, to_day date)
RETURNS text[]
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(c.name ORDER BY c.day) FILTER (WHERE c.name IS NOT NULL), '{}')
    FROM (SELECT d::date AS day, pgcanary_private.create_event_partition(d::date) AS name
          FROM generate_series(from_day, to_day, interval '1 day') AS d) AS c
$$;

-- The scheduler's daily job (docs/events.md, "Retention"): partitions for yesterday to
-- days_ahead days ahead; days whose rows are all older than retain_days are dropped (a
-- DROP TABLE, no bulk DELETE). SECURITY DEFINER because creating and dropping partitions
-- needs the table owner, and the scheduler calls it as service_role; it takes two integers
-- and builds names only from dates. lock_timeout: a job waiting for a lock would queue
-- every writer behind it; failing is better, the next run (and days_ahead) make up for it.
CREATE OR REPLACE FUNCTION public.maintain_event_partitions(days_ahead integer DEFAULT 7, retain_days integer DEFAULT 30)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '3s'
AS $$
DECLARE
    today    constant date := (now() AT TIME ZONE 'UTC')::date;
    created  text[];
    dropped  text[] := '{}'::text[];
    part     record;
    orphans  bigint;
    floor_days integer;
BEGIN
    IF days_ahead IS NULL OR days_ahead NOT BETWEEN 1 AND 366 THEN
        RAISE EXCEPTION 'days_ahead must be from 1 to 366, got %', coalesce(days_ahead::text, 'NULL')
            USING ERRCODE = 'PC014', HINT = 'Partitions are made ahead so writers never wait for one; 7 covers a week without the job.';
    END IF;
    IF retain_days IS NULL OR retain_days > 3650 THEN
        RAISE EXCEPTION 'retain_days must be at most 3650, got %', coalesce(retain_days::text, 'NULL')
            USING ERRCODE = 'PC014', HINT = 'The default, 30, keeps a month of evidence.';
    END IF;
    -- The floor (issue 14): the gates and SLOs read the events of the longest stability
    -- window, and never fewer than 7 days. A caller cannot lower it: lowering min_stable
    -- stops at the 7, and the 7 is here, in a SECURITY DEFINER body only the owner replaces.
    SELECT greatest(7, coalesce(max(ceil(extract(epoch FROM s.min_stable) / 86400))::integer, 0))
      INTO floor_days FROM public.rollout_steps AS s;
    IF retain_days < floor_days THEN
        RAISE EXCEPTION 'retain_days must be at least %, got %', floor_days, retain_days
            USING ERRCODE = 'PC064',
                  DETAIL = 'The rollout gates and the SLO panel read the events of the longest stability window (rollout_steps.min_stable), and never fewer than 7 days.',
                  HINT = 'Keep the default (30); the floor is not a setting.';
    END IF;
    created := pgcanary_private.ensure_event_partitions(today - 1, today + days_ahead);
    FOR part IN
        SELECT c.relname
        FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'public.business_events'::regclass
          AND c.relnamespace = 'pgcanary_private'::regnamespace
          AND c.relname ~ '^business_events_p[0-9]{8}$'
          AND to_date(substr(c.relname, 18), 'YYYYMMDD') + 1 <= today - retain_days
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE pgcanary_private.%I', part.relname);
        dropped := dropped || part.relname::text;
    END LOOP;
    DELETE FROM pgcanary_private.business_events_default AS d
    WHERE d.ts < (today - retain_days)::timestamp AT TIME ZONE 'UTC';
    GET DIAGNOSTICS orphans = ROW_COUNT;
    RETURN jsonb_build_object('created', to_jsonb(created), 'dropped', to_jsonb(dropped),
                              'default_rows_deleted', orphans,
                              'default_rows_left', (SELECT count(*) FROM pgcanary_private.business_events_default));
END
$$;
COMMENT ON FUNCTION public.maintain_event_partitions(integer, integer) IS
    'Daily job: creates business_events partitions from yesterday to days_ahead days ahead, drops days older than retain_days (and such rows of the default partition). Returns {created, dropped, default_rows_deleted, default_rows_left}.';

------------------------------------------------------------------------------------------
-- Rollout metrics. Counting a million rows of the last 24 h costs far more than 50 ms, so
-- closed hours are counted once into business_event_hourly and the metrics add the live
-- rows of the edges (docs/events.md, "Rollout metrics"). The advisory lock pairs with
-- count_late_event; try-lock so that the job never queues writers behind it.
CREATE OR REPLACE FUNCTION public.refresh_event_rollup()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_seal timestamptz;
    new_seal constant timestamptz := date_trunc('hour', now() - interval '5 minutes', 'UTC');
    floor_   constant timestamptz := date_trunc('hour', now() - interval '25 hours', 'UTC');
    from_    timestamptz;
    counted  bigint := 0;
BEGIN
    IF NOT pg_catalog.pg_try_advisory_xact_lock(7062636172790001) THEN
        RETURN jsonb_build_object('refreshed', false, 'reason', 'a backdated insert or another refresh is running');
    END IF;
    SELECT s.sealed_until INTO old_seal FROM pgcanary_private.business_event_rollup_state AS s FOR UPDATE;
    -- The last 3 sealed hours are recounted every time: a transaction that set ts before a
    -- seal and committed after it is counted on the next run.
    from_ := greatest(floor_, least(coalesce(old_seal, floor_), new_seal - interval '3 hours'));
    -- Late notes: those of recounted hours are in the recount; the others are added.
    DELETE FROM pgcanary_private.business_event_late AS l WHERE l.hour >= from_;
    INSERT INTO pgcanary_private.business_event_hourly AS h (hour, event_type, events)
    SELECT l.hour, l.event_type, count(*) FROM pgcanary_private.business_event_late AS l GROUP BY 1, 2
    ON CONFLICT ON CONSTRAINT business_event_hourly_pkey DO UPDATE SET events = h.events + EXCLUDED.events;
    DELETE FROM pgcanary_private.business_event_late;
    IF from_ < new_seal THEN
        DELETE FROM pgcanary_private.business_event_hourly AS h WHERE h.hour >= from_ AND h.hour < new_seal;
        INSERT INTO pgcanary_private.business_event_hourly (hour, event_type, events)
        SELECT date_trunc('hour', e.ts, 'UTC'), e.event_type, count(*)
        FROM public.business_events AS e
        WHERE e.ts >= from_ AND e.ts < new_seal
        GROUP BY 1, 2;
        SELECT coalesce(sum(h.events), 0) INTO counted FROM pgcanary_private.business_event_hourly AS h
        WHERE h.hour >= from_ AND h.hour < new_seal;
    END IF;
    DELETE FROM pgcanary_private.business_event_hourly AS h WHERE h.hour < now() - interval '48 hours';
    UPDATE pgcanary_private.business_event_rollup_state
       SET sealed_until = new_seal, refreshed_at = clock_timestamp();
    RETURN jsonb_build_object('refreshed', true, 'recounted_from', from_, 'sealed_until', new_seal, 'events_recounted', counted);
END
$$;
COMMENT ON FUNCTION public.refresh_event_rollup() IS
    'Scheduler job (every few minutes): recounts closed hours into the hourly rollup that get_rollout_status reads. Without it the metrics stay exact, only slower.';

CREATE OR REPLACE FUNCTION pgcanary_private.rollout_event_metrics()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t0      constant timestamptz := now();
    w       constant timestamptz := t0 - interval '24 hours';
    edge    timestamptz := date_trunc('hour', t0 - interval '24 hours', 'UTC');
    sealed  timestamptz;
    r_end   timestamptz;
    lo_end  timestamptz;
    hi      timestamptz;
    counts  jsonb;
    total   bigint;
    last_h  bigint;
BEGIN
    IF edge < w THEN
        edge := edge + interval '1 hour';  -- the first whole hour of the window
    END IF;
    SELECT s.sealed_until INTO sealed FROM pgcanary_private.business_event_rollup_state AS s;
    -- Rolled-up hours stop before the last hour, so events_last_hour is always counted live.
    r_end := least(coalesce(sealed, edge), date_trunc('hour', t0 - interval '1 hour', 'UTC'));
    IF r_end <= edge THEN
        r_end := edge; lo_end := w; hi := w;       -- no usable rollup: count [w, now] live
    ELSE
        lo_end := edge; hi := r_end;               -- live [w, edge) + rollup [edge, r_end) + live [r_end, ...)
    END IF;
    SELECT coalesce(jsonb_object_agg(y.event_type, y.n), '{}'), coalesce(sum(y.n), 0), coalesce(sum(y.h), 0)
      INTO counts, total, last_h
    FROM (SELECT x.event_type, sum(x.n)::bigint AS n, sum(x.h)::bigint AS h
          FROM (SELECT e.event_type, count(*) AS n, count(*) FILTER (WHERE e.ts >= t0 - interval '1 hour') AS h
                FROM public.business_events AS e WHERE e.ts >= w AND e.ts < lo_end GROUP BY 1
                UNION ALL
                SELECT e.event_type, count(*), count(*) FILTER (WHERE e.ts >= t0 - interval '1 hour')
                FROM public.business_events AS e WHERE e.ts >= hi GROUP BY 1
                UNION ALL
                SELECT r.event_type, sum(r.events), 0
                FROM pgcanary_private.business_event_hourly AS r WHERE r.hour >= edge AND r.hour < r_end GROUP BY 1
                UNION ALL
                SELECT l.event_type, count(*), 0
                FROM pgcanary_private.business_event_late AS l WHERE l.hour >= edge AND l.hour < r_end GROUP BY 1) AS x
          GROUP BY 1) AS y;
    RETURN jsonb_build_object('events_last_hour', last_h, 'events_24h', total, 'events_by_type_24h', counts,
                              'events_window_start', w, 'events_rollup_sealed_until', sealed);
END
$$;
COMMENT ON FUNCTION pgcanary_private.rollout_event_metrics() IS
    'Seed 8.3 metrics: events_last_hour, events_24h and events_by_type_24h (ts >= now() - 24 h, as Q1), from the hourly rollup plus live edges.';

-- The data of the seed's Slack report (Story 8.3), formatted by python_glue/pgcanary/slack.py.
-- The seed's report reads status['rollout_pct'], which its status never returns: the key
-- is "percentage" here, as in get_rollout_status.
CREATE OR REPLACE FUNCTION public.get_rollout_report()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s jsonb := public.get_rollout_status('business_events_canary');
BEGIN
    IF NOT s ? 'events_by_type_24h' THEN
        s := s || pgcanary_private.rollout_event_metrics();
    END IF;
    RETURN jsonb_build_object(
        'flag_key', s -> 'flag_key', 'phase', s -> 'phase', 'percentage', s -> 'percentage',
        'enabled', s -> 'enabled', 'force_on_count', s -> 'force_on_count',
        'events_last_hour', s -> 'events_last_hour', 'events_24h', s -> 'events_24h',
        'counts_24h', s -> 'events_by_type_24h', 'generated_at', now());
END
$$;
COMMENT ON FUNCTION public.get_rollout_report() IS
    'Seed 8.3 Slack report data: {phase, percentage, enabled, force_on_count, events_last_hour, events_24h, counts_24h {type: n}, generated_at}.';

SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.emit_event(text, uuid, uuid, jsonb)', 'public.emit_events(jsonb)',
    'public.register_event_type(text, text, text)', 'public.maintain_event_partitions(integer, integer)',
    'public.refresh_event_rollup()', 'public.get_rollout_report()'
]::regprocedure[]);
SELECT pgcanary_private.run_as_writer(ARRAY[
    'public.emit_event(text, uuid, uuid, jsonb)', 'public.emit_events(jsonb)',
    'pgcanary_private.record_event(text, uuid, uuid, jsonb, text)'
]::regprocedure[]);

-- Re-applied on every migrate: the days around today always have their partition.
SELECT pgcanary_private.ensure_event_partitions((now() AT TIME ZONE 'UTC')::date - 2, (now() AT TIME ZONE 'UTC')::date + 7);
