SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
DROP TABLE IF EXISTS public.outbound_message_audit;
DROP TABLE IF EXISTS public.outbound_messages;
DROP TABLE IF EXISTS public.circuit_breakers;
