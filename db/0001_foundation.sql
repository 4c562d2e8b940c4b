-- depends: 0000_lock_down
-- Roles, the private schema, feature flags and their audit trail.
-- Every SQL file of ours starts by pinning search_path for its transaction, so unqualified
-- names and operators below cannot resolve to objects planted in another schema (pgspot).
SET LOCAL search_path TO pg_catalog, pg_temp;
DO $$ BEGIN PERFORM pgcanary_private.refuse_existing(ARRAY['public.feature_flag_audit']); END $$;  -- db/0000

-- Supabase already has anon, authenticated and service_role: create them only when missing
-- (vanilla Postgres 15), with the attributes Supabase gives them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
END
$$;

-- Internal helpers (trigger functions, actor lookup) live outside the schema PostgREST exposes.
-- pgcanary_private is made by db/0000 (which refuses a foreign one).
REVOKE ALL ON SCHEMA pgcanary_private FROM PUBLIC;
GRANT USAGE ON SCHEMA pgcanary_private TO service_role;

-- Adopt an existing feature_flags table (the seed says "use the existing table"): create it
-- only when missing, then add what we need column by column. Rows are never dropped.
-- Adopting a table owned by a role we are not is refused: its owner could keep triggers or
-- policies of their own on it.
DO $$
DECLARE
    owner_ oid := (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass('public.feature_flags'));
BEGIN
    IF owner_ IS NOT NULL AND NOT pg_catalog.pg_has_role(current_user, owner_, 'USAGE') THEN
        RAISE EXCEPTION 'public.feature_flags exists and is owned by %, not by the migrating role %',
            owner_::regrole, current_user
            USING ERRCODE = 'PC003', HINT = 'Migrate as the owner of public.feature_flags (on Supabase: postgres).';
    END IF;
END
$$;
CREATE TABLE IF NOT EXISTS public.feature_flags (
    flag_key    text PRIMARY KEY,
    value       jsonb NOT NULL,
    description text
);
DO $$
BEGIN
    -- An adopted table may keep its values as text or json; JSON text converts, anything
    -- else stops the migration with our code (nothing is guessed, the value is not echoed).
    IF (SELECT a.atttypid <> 'jsonb'::regtype FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = 'public.feature_flags'::regclass AND a.attname = 'value') THEN
        ALTER TABLE public.feature_flags ALTER COLUMN value TYPE jsonb USING value::text::jsonb;
    END IF;
EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION 'an existing public.feature_flags.value is not JSON'
        USING ERRCODE = 'PC054',
              DETAIL = 'pgcanary keeps flag values as jsonb and converts text values that are JSON; it does not guess the others.',
              HINT = 'Make every value JSON text (true, 12, "text", {...}; a bare word needs quotes), then migrate again.';
END
$$;
ALTER TABLE public.feature_flags
    ADD COLUMN IF NOT EXISTS description text,
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_by text;
ALTER TABLE public.feature_flags ALTER COLUMN value SET NOT NULL;
COMMENT ON TABLE public.feature_flags IS
    'Feature flags. Canary values: {"enabled": bool, "percentage" | "canary_pct": 0..100, "force_on": [uuid], "salt": text}. Every change is audited in feature_flag_audit.';

CREATE TABLE public.feature_flag_audit (
    audit_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_key   text NOT NULL,
    operation  text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    old_value  jsonb,
    new_value  jsonb,
    actor      text NOT NULL,
    reason     text,
    changed_at timestamptz NOT NULL DEFAULT now()
);
-- "What happened to this flag lately": the status RPC and the demo read it by flag and time.
CREATE INDEX feature_flag_audit_flag_time_idx
    ON public.feature_flag_audit (flag_key, changed_at DESC);
COMMENT ON TABLE public.feature_flag_audit IS
    'One row per change of feature_flags by any path (RPC or raw SQL): actor, old, new, reason. Append-only.';

-- The seed's flag (Story 8.1), and the two rows its procedure (Story 8.4) updates, so that
-- those UPDATEs hit a row instead of silently doing nothing. An adopted canary keeps its
-- value, and the alias starts at that value's percentage.
INSERT INTO public.feature_flags (flag_key, value, description) VALUES
    ('business_events_canary', '{"enabled": true, "percentage": 2, "force_on": []}',
     'Canary rollout para business_events: enabled, percentage (0-100), force_on (UUIDs para debug)'),
    ('business_events_enabled', 'true',
     'Master switch for business events (seed 8.4 emergency rollback): false stops emission on the next call')
ON CONFLICT (flag_key) DO NOTHING;
INSERT INTO public.feature_flags (flag_key, value, description)
SELECT 'business_events_rollout_pct', coalesce(f.value -> 'percentage', '0'),
       'Alias of business_events_canary.percentage (seed 8.4 procedure): writing N sets the canary to N%'
FROM public.feature_flags AS f WHERE f.flag_key = 'business_events_canary'
ON CONFLICT (flag_key) DO NOTHING;

-- Closed to the API before this migration commits (db/0000 says why).
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['public.feature_flags', 'public.feature_flag_audit']::regclass[]); END $$;
