SET LOCAL search_path TO pg_catalog, pg_temp;
ALTER TABLE public.feature_flags DROP COLUMN IF EXISTS eval_kind, DROP COLUMN IF EXISTS eval_on,
    DROP COLUMN IF EXISTS eval_pct, DROP COLUMN IF EXISTS eval_force_on, DROP COLUMN IF EXISTS eval_salt;
DROP FUNCTION IF EXISTS pgcanary_private.flag_state(jsonb);
DROP TYPE IF EXISTS pgcanary_private.flag_state;
