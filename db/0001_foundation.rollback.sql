-- feature_flags stays: it may have been adopted from the user's database (the seed says "use
-- the existing table"), and rolling back our migration must not destroy their flags.
-- Roles stay too: on Supabase they belong to the platform.
DROP TABLE IF EXISTS public.feature_flag_audit;
DROP SCHEMA IF EXISTS pgcanary_private CASCADE;
