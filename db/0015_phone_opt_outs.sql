-- depends: 0014_safety_audit_replica
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
DO $$ BEGIN PERFORM pgcanary_private.refuse_existing(ARRAY['public.phone_opt_outs']); END $$;  -- db/0000
-- A phone's opt-out (issue 15): "SAIR" from a phone holds for every cliente_id that uses that
-- phone, and for every spelling of it. Keyed by the keyed hash of the canonical number
-- (functions/phone.sql), the same hash as the phone's rate-limit counter, so a send computes
-- one hash for both. One row per phone that ever opted out; opting back in keeps the row.
-- Changes by any path land in safety_audit (functions/audit.sql).
CREATE TABLE public.phone_opt_outs (
    phone_key  bytea PRIMARY KEY CHECK (length(phone_key) = 32),
    opted_out  boolean NOT NULL,
    cliente_id uuid NOT NULL,
    source     text NOT NULL CHECK (btrim(source) <> '' AND length(source) <= 200),
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text NOT NULL
);
COMMENT ON TABLE public.phone_opt_outs IS
    'Phones opted out of outbound messages, whichever client record uses them: opt_out(..., telefone => ...). phone_key is the keyed hash of the canonical number, never the number. Changes are audited in safety_audit.';
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['public.phone_opt_outs']::regclass[]); END $$;
