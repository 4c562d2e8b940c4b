-- depends: 0007_lock_down_existing
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Issue 17 (stale flags): who answers for a flag. Nullable, so adopted tables and the seed's
-- own INSERTs keep working; health_stale_flags reports the flags without one.
ALTER TABLE public.feature_flags ADD COLUMN IF NOT EXISTS owner text;
COMMENT ON COLUMN public.feature_flags.owner IS
    'Who answers for this flag (a person or team); health_stale_flags lists flags without one.';
