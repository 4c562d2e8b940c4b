-- Roles, the private schema, feature flags and their audit trail.
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
CREATE SCHEMA IF NOT EXISTS pgcanary_private;
REVOKE ALL ON SCHEMA pgcanary_private FROM PUBLIC;
GRANT USAGE ON SCHEMA pgcanary_private TO service_role;

-- Adopt an existing feature_flags table (the seed says "use the existing table"): create it
-- only when missing, then add what we need column by column. Rows are never dropped.
CREATE TABLE IF NOT EXISTS public.feature_flags (
    flag_key    text PRIMARY KEY,
    value       jsonb NOT NULL,
    description text
);
DO $$
BEGIN
    -- An adopted table may keep its values as text or json; JSON text converts, anything
    -- else stops the migration with the failing row's error (nothing is guessed).
    IF (SELECT a.atttypid <> 'jsonb'::regtype FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = 'public.feature_flags'::regclass AND a.attname = 'value') THEN
        ALTER TABLE public.feature_flags ALTER COLUMN value TYPE jsonb USING value::text::jsonb;
    END IF;
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

CREATE TABLE IF NOT EXISTS public.feature_flag_audit (
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
CREATE INDEX IF NOT EXISTS feature_flag_audit_flag_time_idx
    ON public.feature_flag_audit (flag_key, changed_at DESC);
COMMENT ON TABLE public.feature_flag_audit IS
    'One row per change of feature_flags by any path (RPC or raw SQL): actor, old, new, reason. Append-only.';

-- The seed's flag (Story 8.1), and the two rows its procedure (Story 8.4) updates, so that
-- those UPDATEs hit a row instead of silently doing nothing.
INSERT INTO public.feature_flags (flag_key, value, description) VALUES
    ('business_events_canary', '{"enabled": true, "percentage": 2, "force_on": []}',
     'Canary rollout para business_events: enabled, percentage (0-100), force_on (UUIDs para debug)'),
    ('business_events_enabled', 'true',
     'Master switch for business events (seed 8.4 emergency rollback): false stops emission on the next call'),
    ('business_events_rollout_pct', '2',
     'Alias of business_events_canary.percentage (seed 8.4 procedure): writing N sets the canary to N%')
ON CONFLICT (flag_key) DO NOTHING;
