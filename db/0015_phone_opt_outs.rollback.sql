SET LOCAL search_path TO pg_catalog, pg_temp;
DROP FUNCTION IF EXISTS public.opt_out(uuid, text, text);
DROP FUNCTION IF EXISTS public.opt_in(uuid, text, text);
DROP TABLE IF EXISTS public.phone_opt_outs;
