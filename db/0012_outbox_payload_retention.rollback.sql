SET LOCAL search_path TO pg_catalog, pg_temp;
-- The dropped payloads are gone (that was the point); the hashes go with the column.
ALTER TABLE public.outbound_messages DROP COLUMN IF EXISTS payload_sha256;
