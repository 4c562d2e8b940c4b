SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The PII scrub of free text and the input limits of every text column we store (issue 15,
-- invariant 6 of DESIGN.md): one definition, applied by one row trigger on each table, so
-- that every path (our RPCs, a raw INSERT or UPDATE in the SQL Editor, another writer) goes
-- through it. Event props have their own walk (functions/events.sql), which uses scrub_text
-- for its string values. Docs: docs/pii.md. Tests: tests/sql/pii.test.sql, tests/py/test_pii.py.
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC070 value too large     PC071 phone number in a key     PC072 JSON nested too deep

-- Free text (issue 15.2): every whole phone number inside a text becomes its prefix and an
-- ellipsis: "cliente ligou do 11 98765-4321" -> "cliente ligou do 5511…". What is a number:
--   * a run of digits with phone punctuation (space, no-break space, dot, hyphen,
--     parentheses, a leading "+"), in ASCII or the Unicode digits phone_e164 reads, with 10
--     or more digits: its first 4 canonical digits stay. Two numbers written together are one
--     run and go together; a 10-digit order number goes too (no PII beats a readable id);
--   * a Brazilian local number without its area code (the other half of digits split across
--     two fields): 9 digits starting with 9 ("98765-4321"), or 4+4 digits with a separator
--     ("3333-4444"): replaced by "…";
-- and what is not, so that ids and dates survive:
--   * an ISO date or time stamp ("2026-12-06 14:35"): the date is skipped, the rest is read;
--   * a UUID, or a hex token of 32+ characters with 4+ letters a-f (an md5 or sha256): a
--     phone hidden inside one is not seen (documented in docs/pii.md);
--   * "/" is not phone punctuation here, so "06/12/2026 14:35" is not a run.
-- Idempotent: what it writes has at most 4 digits in a run.
CREATE OR REPLACE FUNCTION pgcanary_private.scrub_text(value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    run_re constant text := '\+?\(?[0-9][0-9 ().\-]{6,}[0-9]';
    s      text;
    result text := '';
    pos    int := 1;
    at     int;
    run    text;
    digits text;
    token  text;
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    -- The same characters, one for one (positions stay), with every digit in ASCII.
    s := translate(value, '０１２３４５６７８９٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹०१२३४५६७८९' || chr(160) || chr(8239),
                   '0123456789012345678901234567890123456789  ');
    IF s !~ run_re THEN
        RETURN value;
    END IF;
    -- Ids that hold digit runs by chance: their digits are masked in s, kept in the output.
    LOOP
        at := regexp_instr(s, '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32,}', pos);
        EXIT WHEN at = 0;
        token := regexp_substr(s, '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32,}', pos);
        IF token ~ '-' OR length(regexp_replace(token, '[^a-fA-F]', '', 'g')) >= 4 THEN
            s := overlay(s PLACING translate(token, '0123456789', 'xxxxxxxxxx') FROM at FOR length(token));
        END IF;
        pos := at + length(token);
    END LOOP;
    pos := 1;
    LOOP
        at := regexp_instr(s, run_re, pos);
        IF at = 0 THEN
            result := result || substr(value, pos);
            EXIT;
        END IF;
        run := regexp_substr(s, run_re, pos);
        IF run ~ '^[12][0-9]{3}-[01][0-9]-[0-3][0-9]' THEN
            -- a date: kept, and what follows it is read again
            result := result || substr(value, pos, at - pos + 10);
            pos := at + 10;
            CONTINUE;
        END IF;
        digits := regexp_replace(run, '[^0-9]', '', 'g');
        result := result || substr(value, pos, at - pos);
        IF length(digits) >= 10 THEN
            result := result || left(coalesce(pgcanary_private.phone_e164(run), ltrim(digits, '0')), 4) || '…';
        ELSIF digits ~ '^9[0-9]{8}$' OR run ~ '^[2-9][0-9]{3}[ .\-][0-9]{4}$' THEN
            result := result || '…';
        ELSE
            result := result || substr(value, at, length(run));
        END IF;
        pos := at + length(run);
    END LOOP;
    RETURN result;
END
$$;
COMMENT ON FUNCTION pgcanary_private.scrub_text(text) IS
    'Free text without phone numbers: each whole number (10+ digits in any spelling) becomes its first 4 canonical digits and "…"; a Brazilian local number (9xxxx-xxxx, xxxx-xxxx) becomes "…". Dates, UUIDs and hashes are kept. Idempotent.';

-- What an error message may show of an argument (the server and PostgREST log every error):
-- the argument scrubbed like stored text (so a number in any spelling is its prefix), control
-- characters replaced, at most 40 characters. Only the first 200 characters are looked at, so
-- a 1 MB argument costs nothing; a number cut at character 200 is past the 40 shown.
CREATE OR REPLACE FUNCTION pgcanary_private.excerpt(value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text;
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    r := regexp_replace(pgcanary_private.scrub_text(left(value, 200)), '[[:cntrl:]]', '?', 'g');
    -- Shorter digit runs (an 8-digit fragment) are cut too: an error has no use for them.
    r := regexp_replace(r, '([0-9]{4})[0-9 ().\-]{3,}[0-9]', '\1...', 'g');
    RETURN CASE WHEN length(value) > 40 THEN left(r, 40) || format('... (%s characters)', length(value)) ELSE r END;
END
$$;
COMMENT ON FUNCTION pgcanary_private.excerpt(text) IS
    'At most 40 characters of an argument for an error message: numbers scrubbed as in stored text (scrub_text), control characters replaced, other digit runs cut to 4 digits.';

-- A key (an identifier a caller chooses and we store and show) cannot be scrubbed without
-- breaking it: a phone number in one is refused. One rule for the key columns of
-- text_columns(), business_events.source and outbox_claim's worker_id.
CREATE OR REPLACE FUNCTION pgcanary_private.refuse_phone_in_key(what text, value text, hint text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pgcanary_private.scrub_text(value) IS DISTINCT FROM value THEN
        RAISE EXCEPTION '% holds what looks like a phone number: %', what, pgcanary_private.excerpt(value)
            USING ERRCODE = 'PC071', HINT = hint;
    END IF;
END
$$;

-- JSON values are bounded before they are walked: the walk is recursive, and a deeply
-- nested value would otherwise answer Postgres' own 54001 (stack depth) instead of ours.
CREATE OR REPLACE FUNCTION pgcanary_private.check_json_depth(value jsonb, what text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF jsonb_path_exists(value, 'strict $.**{33}') THEN
        RAISE EXCEPTION '% nests deeper than 32 levels', what
            USING ERRCODE = 'PC072', HINT = 'Flatten it: keep values at most 32 objects or arrays deep.';
    END IF;
END
$$;

-- The row trigger. Each argument is "column:mode:limit" (limits in characters, bytes for
-- json), and the modes say what the column is:
--   text  human text (reason, source, title, evidence): phones scrubbed; over the limit the
--         write is refused (PC070), so that a caller learns it and nothing is cut silently;
--   cut   text we must never refuse, because refusing would lose a fact (an actor, a
--         provider's error, an audit reason copied from elsewhere): phones scrubbed, over the
--         limit cut, with the original length said;
--   key   an identifier a caller chooses (template_ref): a phone in it is refused (PC071),
--         it cannot be scrubbed without breaking the key;
--   json  a JSON object: at most 32 deep (PC072) and `limit` bytes (PC070), scrubbed like
--         event props.
-- Only changed columns are written back (jsonb_populate_record), so a clean row costs one
-- to_jsonb and the tests.
CREATE OR REPLACE FUNCTION pgcanary_private.clean_text_columns()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r       jsonb := to_jsonb(NEW);
    changes jsonb := '{}'::jsonb;
    col     text;
    mode    text;
    lim     integer;
    v       text;
    clean   text;
    suffix  text;
    j       jsonb;
BEGIN
    FOR i IN 0 .. TG_NARGS - 1 LOOP
        col := split_part(TG_ARGV[i], ':', 1);
        mode := split_part(TG_ARGV[i], ':', 2);
        lim := split_part(TG_ARGV[i], ':', 3)::integer;
        CONTINUE WHEN r -> col IS NULL OR jsonb_typeof(r -> col) = 'null';
        IF mode = 'json' THEN
            j := r -> col;
            IF octet_length(j::text) > lim THEN
                RAISE EXCEPTION '%.%: % bytes, the limit is %', TG_TABLE_NAME, col, octet_length(j::text), lim
                    USING ERRCODE = 'PC070', HINT = 'Keep details short: a few keys with ids and counts.';
            END IF;
            PERFORM pgcanary_private.check_json_depth(j, format('%s.%s', TG_TABLE_NAME, col));
            IF jsonb_typeof(j) = 'object' AND pgcanary_private.scrub_pii(j) IS DISTINCT FROM j THEN
                changes := changes || jsonb_build_object(col, pgcanary_private.scrub_pii(j));
            END IF;
            CONTINUE;
        END IF;
        v := r ->> col;
        IF mode IN ('text', 'key') AND char_length(v) > lim THEN
            RAISE EXCEPTION '%.%: % characters, the limit is %', TG_TABLE_NAME, col, char_length(v), lim
                USING ERRCODE = 'PC070', HINT = 'Shorten it; put long evidence in a document and link it.';
        END IF;
        IF mode = 'key' THEN  -- kept as written, or refused
            PERFORM pgcanary_private.refuse_phone_in_key(format('%s.%s', TG_TABLE_NAME, col), v,
                'Keys are stored and shown: use an id of yours (vaga-123), never a phone number (docs/pii.md).');
            CONTINUE;
        END IF;
        clean := pgcanary_private.scrub_text(v);
        IF mode = 'cut' AND char_length(clean) > lim THEN
            suffix := format('… (%s characters)', char_length(v));
            clean := left(clean, lim - char_length(suffix)) || suffix;
        END IF;
        IF clean IS DISTINCT FROM v THEN
            changes := changes || jsonb_build_object(col, clean);
        END IF;
    END LOOP;
    IF changes <> '{}'::jsonb THEN
        NEW := jsonb_populate_record(NEW, changes);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION pgcanary_private.clean_text_columns() IS
    'BEFORE INSERT OR UPDATE row trigger: scrubs phone numbers from the named text columns and enforces their limits. Args: column:mode:limit, mode text | cut | key | json (functions/pii.sql).';

-- Every text column we store that a caller or an operator can fill, with its kind. Names
-- (flag keys, event types, methods, channels, scopes, breaker names) are keys: their CHECK
-- allows digits after the first letter, so a number in one is refused (PC071). Columns not
-- here are statuses fixed by a CHECK, ids we compute (dedupe keys, hashes), or event props
-- (the events walk).
-- Left out on purpose: outbound_messages.provider_message_id is the provider's own id, and
-- refusing or cutting it would lose the proof of a send; feature_flags.value and the audit
-- trails' row images hold what the tables above already cleaned.
CREATE OR REPLACE FUNCTION pgcanary_private.text_columns()
RETURNS TABLE (table_name text, columns text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM (VALUES
        ('feature_flags',          ARRAY['flag_key:key:100', 'description:text:1000']),
        ('feature_flag_audit',     ARRAY['actor:cut:200', 'reason:text:1000']),
        ('business_event_types',   ARRAY['event_type:key:63', 'category:key:63', 'description:text:1000']),
        ('outbound_channels',      ARRAY['channel:key:100', 'description:text:1000']),
        ('outbound_methods',       ARRAY['method:key:100', 'description:text:1000']),
        ('opt_outs',               ARRAY['source:text:200', 'changed_by:cut:200']),
        ('opt_out_audit',          ARRAY['source:text:200', 'actor:cut:200']),
        ('phone_opt_outs',         ARRAY['source:text:200', 'changed_by:cut:200']),
        ('external_handoffs',      ARRAY['opened_by:cut:200', 'closed_by:cut:200', 'close_reason:text:1000']),
        ('outbound_messages',      ARRAY['template_ref:key:200', 'error:cut:1000']),
        ('outbound_message_audit', ARRAY['actor:cut:200', 'reason:cut:1000']),
        ('rollout_plans',          ARRAY['description:text:1000']),
        ('rollout_steps',          ARRAY['name:text:200', 'criteria:text:1000']),
        ('rollout_prerequisites',  ARRAY['code:key:100', 'description:text:1000', 'evidence:text:1000', 'set_by:cut:200']),
        ('rollout_history',        ARRAY['actor:cut:200', 'reason:text:1000']),
        ('incidents',              ARRAY['title:text:200', 'details:json:8192', 'opened_by:cut:200',
                                         'resolved_by:cut:200', 'resolution:text:1000']),
        ('alert_outbox',           ARRAY['kind:key:100', 'text:cut:3000', 'last_error:cut:300']),
        ('safety_audit',           ARRAY['actor:cut:200', 'reason:cut:1000']),
        ('circuit_breakers',       ARRAY['name:key:100']),
        ('rate_limit_rules',       ARRAY['scope:key:100'])) AS v (table_name, columns)
$$;

-- UPDATE OF the listed columns only: the outbox's claims and leases never touch them, so
-- its hot path pays nothing on UPDATE.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT c.table_name, c.columns FROM pgcanary_private.text_columns() AS c LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER scrub_text BEFORE INSERT OR UPDATE OF %s ON public.%I '
                       'FOR EACH ROW EXECUTE FUNCTION pgcanary_private.clean_text_columns(%s)',
                       (SELECT string_agg(quote_ident(split_part(a, ':', 1)), ', ') FROM unnest(t.columns) AS a),
                       t.table_name,
                       (SELECT string_agg(quote_literal(a), ', ') FROM unnest(t.columns) AS a));
    END LOOP;
END
$$;
