-- depends: 0016_flag_evaluations
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- A flag's state, parsed once when it is written (issue 16): evaluate_flag and is_enabled read
-- typed columns instead of re-parsing the JSON value on every call. Generated columns, not a
-- trigger: Postgres computes them on every write, also one made with triggers disabled or in
-- replica mode, so the columns can never disagree with the value.
--
-- pgcanary_private.flag_state is the one definition of how a stored value reads. It lives here,
-- not in functions/, because stored rows depend on it: changing it needs a migration that
-- also rewrites the rows (UPDATE feature_flags SET value = value).
CREATE TYPE pgcanary_private.flag_state AS (
    kind     text,      -- 'boolean' (true/false), 'object' (a valid object), 'invalid' (PARSE_ERROR)
    is_on    boolean,   -- the flag's own on/off, whatever the client
    pct      smallint,  -- 0..100; NULL where no valid percentage can be read
    force_on text[],    -- the allowlist as text (compared with cliente_id::text)
    salt     text
);

CREATE FUNCTION pgcanary_private.flag_state(value jsonb)
RETURNS pgcanary_private.flag_state
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r   pgcanary_private.flag_state;
    pct jsonb;
BEGIN
    r.kind := 'invalid'; r.is_on := false; r.force_on := '{}';
    IF jsonb_typeof(value) = 'boolean' THEN
        r.kind := 'boolean'; r.is_on := value = 'true'; r.pct := CASE WHEN r.is_on THEN 100 ELSE 0 END;
        RETURN r;
    ELSIF jsonb_typeof(value) IS DISTINCT FROM 'object' THEN
        RETURN r;
    END IF;
    -- Rules (docs/flags.md): "percentage" or its alias "canary_pct", not both, an integer
    -- 0..100 (50.0 is 50); none means 100, or 0 when there is an allowlist (only it is on).
    pct := coalesce(value -> 'percentage', value -> 'canary_pct');
    IF value ? 'percentage' AND value ? 'canary_pct' THEN
        NULL;
    ELSIF pct IS NULL THEN
        r.pct := CASE WHEN value ? 'force_on' THEN 0 ELSE 100 END;
    ELSIF jsonb_typeof(pct) = 'number' AND pct::numeric BETWEEN 0 AND 100 AND pct::numeric = trunc(pct::numeric) THEN
        r.pct := pct::numeric::smallint;
    END IF;
    IF r.pct IS NULL
       OR (value ? 'enabled' AND jsonb_typeof(value -> 'enabled') <> 'boolean')
       OR (value ? 'force_on' AND jsonb_typeof(value -> 'force_on') <> 'array')
       OR jsonb_typeof(value -> 'salt') NOT IN ('string', 'null') THEN
        RETURN r;  -- invalid, keeping the percentage it could read (evaluate_flag shows it)
    END IF;
    r.kind := 'object';
    r.is_on := coalesce(value -> 'enabled' = 'true'::jsonb, false);
    r.force_on := coalesce(ARRAY(SELECT jsonb_array_elements_text(value -> 'force_on')), '{}');
    r.salt := value ->> 'salt';
    RETURN r;
    -- No EXCEPTION block: every cast above is guarded by jsonb_typeof or a range check, so no
    -- stored value can make it raise (and a raise here would fail the write, not an evaluation).
END
$$;
-- Computed for whoever writes feature_flags, who needs EXECUTE on it: service_role has it on
-- every function of pgcanary_private (policies/00_private_schema.sql), the API roles do not.
REVOKE ALL ON FUNCTION pgcanary_private.flag_state(jsonb) FROM PUBLIC, anon, authenticated;
COMMENT ON FUNCTION pgcanary_private.flag_state(jsonb) IS
    'How a stored flag value reads: kind (boolean, object, invalid), on, percentage, allowlist, salt. The one definition; feature_flags.eval_* are generated from it.';

ALTER TABLE public.feature_flags
    ADD COLUMN eval_kind     text     GENERATED ALWAYS AS ((pgcanary_private.flag_state(value)).kind) STORED,
    ADD COLUMN eval_on       boolean  GENERATED ALWAYS AS ((pgcanary_private.flag_state(value)).is_on) STORED,
    ADD COLUMN eval_pct      smallint GENERATED ALWAYS AS ((pgcanary_private.flag_state(value)).pct) STORED,
    ADD COLUMN eval_force_on text[]   GENERATED ALWAYS AS ((pgcanary_private.flag_state(value)).force_on) STORED,
    ADD COLUMN eval_salt     text     GENERATED ALWAYS AS ((pgcanary_private.flag_state(value)).salt) STORED;
COMMENT ON COLUMN public.feature_flags.eval_kind IS
    'Generated from value by pgcanary_private.flag_state: boolean, object or invalid (evaluates to PARSE_ERROR). eval_on, eval_pct, eval_force_on, eval_salt likewise.';
