SET LOCAL search_path TO pg_catalog, pg_temp;
DROP FUNCTION IF EXISTS public.note_flag_evaluations(text[]);
DROP TABLE IF EXISTS public.flag_evaluations;
