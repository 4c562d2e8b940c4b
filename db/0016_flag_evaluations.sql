-- depends: 0015_phone_opt_outs
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
DO $$ BEGIN PERFORM pgcanary_private.refuse_existing(ARRAY['public.flag_evaluations']); END $$;  -- db/0000
-- When clients last evaluated each flag (issue 17, stale flags: "never evaluated"). The
-- evaluation path (is_enabled, evaluate_flag) is STABLE and writes nothing, so it cannot keep
-- this: the clients report the keys they evaluated, at most once a minute per process
-- (note_flag_evaluations, functions/stale_flags.sql). Hygiene data, not safety state: not
-- audited. No foreign key to feature_flags: it would make TRUNCATE feature_flags fail with
-- Postgres' 0A000 before our refusal (PC060) could answer. A renamed or deleted flag leaves a
-- row nobody reads (stale_flags starts from feature_flags); a renamed one is reported again
-- under its new key by the next evaluation.
CREATE TABLE public.flag_evaluations (
    flag_key           text PRIMARY KEY,
    first_evaluated_at timestamptz NOT NULL DEFAULT now(),
    last_evaluated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.flag_evaluations IS
    'When a client last reported evaluating each flag (note_flag_evaluations, sent by pgcanary.flags and the OpenFeature provider at most once a minute). stale_flags() reads it for flag_not_evaluated.';
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['public.flag_evaluations']::regclass[]); END $$;
