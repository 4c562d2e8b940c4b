SET LOCAL search_path TO pg_catalog, pg_temp;
DROP FUNCTION IF EXISTS pgcanary_private.lock_down(regclass[]), pgcanary_private.refuse_existing(text[]);
-- The schema goes with 0001's rollback (it holds everything private); dropped here only if empty.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d
                    WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass
                      AND d.refobjid = pg_catalog.to_regnamespace('pgcanary_private')) THEN
        DROP SCHEMA IF EXISTS pgcanary_private;
    END IF;
END
$$;
