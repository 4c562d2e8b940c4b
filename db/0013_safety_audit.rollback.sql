SET LOCAL search_path TO pg_catalog, pg_temp;
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tgrelid::regclass AS rel, tgname FROM pg_catalog.pg_trigger
             WHERE tgname IN ('safety_audit', 'safety_audit_update') LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
    END LOOP;
END
$$;
DROP TABLE IF EXISTS public.safety_audit;
