SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The HMAC key for rate-limit hashes: its owner only. No grant and no policy, on purpose:
-- pgcanary_private.keyed_hash (SECURITY DEFINER) is the one reader.
ALTER TABLE pgcanary_private.hash_keys ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.hash_keys FROM PUBLIC, anon, authenticated, service_role;
