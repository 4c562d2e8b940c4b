-- depends: 0002_business_events
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
DO $$ BEGIN PERFORM pgcanary_private.refuse_existing(ARRAY['public.outbound_channels', 'public.outbound_methods', 'public.opt_outs', 'public.opt_out_audit', 'public.rate_limit_rules', 'public.rate_limit_hits', 'public.external_handoffs']); END $$;  -- db/0000
-- Outbound guardrails: send configuration (methods, channels), opt-out, exact rate limits with
-- a keyed hash, the external handoff, and the flags the kill switches write.
-- Functions: functions/guardrails.sql. Docs: docs/guardrails.md.

------------------------------------------------------------------------------------------
-- What a send may be. Data rather than a CHECK so a team can add a method (and its hours)
-- with an INSERT; check_outbound_guardrails refuses anything not listed here.
CREATE TABLE public.outbound_channels (
    channel     text PRIMARY KEY CHECK (channel ~ '^[a-z][a-z0-9_]*$'),
    description text NOT NULL
);
COMMENT ON TABLE public.outbound_channels IS
    'Channels an outbound send may use; check_outbound_guardrails raises PC022 for any other.';
INSERT INTO public.outbound_channels (channel, description) VALUES
    ('whatsapp', 'WhatsApp through the Evolution API');

-- Business hours are local wall-clock hours in hours_tz; a method without hours_from may send
-- at any time. weekdays are ISO days (1 = Monday .. 7 = Sunday).
CREATE TABLE public.outbound_methods (
    method      text PRIMARY KEY CHECK (method ~ '^[a-z][a-z0-9_]*$'),
    description text NOT NULL,
    hours_from  time,
    hours_to    time,
    weekdays    smallint[],
    hours_tz    text NOT NULL DEFAULT 'America/Sao_Paulo',
    CONSTRAINT business_hours_complete CHECK (
        (hours_from IS NULL AND hours_to IS NULL AND weekdays IS NULL)
        OR (hours_from IS NOT NULL AND hours_to IS NOT NULL AND weekdays IS NOT NULL AND hours_from < hours_to
            AND weekdays <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]))
);
COMMENT ON TABLE public.outbound_methods IS
    'Kinds of outbound send (campaign, followup, reply, handoff...) and their business hours (hours_from..hours_to on weekdays, in hours_tz). check_outbound_guardrails raises PC021 for any other method.';
INSERT INTO public.outbound_methods (method, description, hours_from, hours_to, weekdays) VALUES
    ('reply',    'Answer to an inbound message; needs inbound proof (conversation and inbound interaction)', NULL, NULL, NULL),
    ('followup', 'Assistant-initiated message to a client already in conversation', NULL, NULL, NULL),
    ('campaign', 'Campaign message; stopped by the campaigns toggle', NULL, NULL, NULL),
    ('handoff',  'External handoff (ponte externa) message; business hours 08-20 Monday to Friday, Sao Paulo time',
                 '08:00', '20:00', '{1,2,3,4,5}');

------------------------------------------------------------------------------------------
-- Opt-out. One row per client who ever opted out; opting back in keeps the row with
-- opted_out = false, so the row always says who changed it last, from where and when.
-- Every change by any path (RPC, a sync trigger, raw SQL) lands in opt_out_audit.
CREATE TABLE public.opt_outs (
    cliente_id uuid PRIMARY KEY,
    opted_out  boolean NOT NULL,
    source     text NOT NULL CHECK (btrim(source) <> ''),
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text NOT NULL
);
COMMENT ON TABLE public.opt_outs IS
    'Clients who opted out of outbound messages (opted_out = true) or opted back in (false). Never bypassable by check_outbound_guardrails. Changes are audited in opt_out_audit.';

CREATE TABLE public.opt_out_audit (
    audit_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cliente_id uuid NOT NULL,
    operation  text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    old_opted_out boolean,
    new_opted_out boolean,
    source     text,
    actor      text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX opt_out_audit_client_time_idx ON public.opt_out_audit (cliente_id, changed_at DESC);
COMMENT ON TABLE public.opt_out_audit IS
    'One row per change of opt_outs by any path: client, old and new state, source, actor. Append-only.';

------------------------------------------------------------------------------------------
-- Rate limits: an exact sliding window is a log of admitted hits, counted per window.
-- No raw phone number or IP is stored: key_hash is HMAC-SHA256 under a secret key kept in
-- pgcanary_private.hash_keys (readable by its owner only), over "<scope>:<normalised value>".
CREATE TABLE public.rate_limit_rules (
    scope       text NOT NULL CHECK (scope ~ '^[a-z][a-z0-9_]*$'),
    window_size interval NOT NULL CHECK (window_size > interval '0'),
    max_hits    integer NOT NULL CHECK (max_hits >= 0),
    PRIMARY KEY (scope, window_size)
);
COMMENT ON TABLE public.rate_limit_rules IS
    'Sliding-window limits: at most max_hits admitted hits per key within any window_size. Every rule of a scope is checked on each hit.';
INSERT INTO public.rate_limit_rules (scope, window_size, max_hits) VALUES
    ('phone', '1 hour', 20),
    ('phone', '1 day', 100),
    ('handoff_confirm_ip', '1 minute', 30),
    ('handoff_confirm_ip', '1 hour', 200);

-- A log of facts without identity: no primary key, one index. The only read is "hits of
-- this key since t" (scope is inside the hashed text), and an identity key would add a
-- sequence and a second index to every admitted send.
CREATE TABLE public.rate_limit_hits (
    scope    text NOT NULL,
    key_hash bytea NOT NULL,
    hit_at   timestamptz NOT NULL
);
CREATE INDEX rate_limit_hits_key_time_idx ON public.rate_limit_hits (key_hash, hit_at);
COMMENT ON TABLE public.rate_limit_hits IS
    'Admitted hits per rate-limit key (HMAC of scope and value, never the raw phone or IP). cleanup_rate_limits() deletes hits older than their scope''s longest window.';

-- The HMAC key. 32 bytes from two gen_random_uuid() values (244 random bits; built in, so
-- no pgcrypto), with the HMAC inner and outer pads precomputed so the hot path pays two
-- sha256() calls and nothing else. Owner only: no grant, RLS on, no policy.
CREATE TABLE pgcanary_private.hash_keys (
    key_name   text PRIMARY KEY,
    secret     bytea NOT NULL CHECK (length(secret) = 32),
    inner_pad  bytea NOT NULL CHECK (length(inner_pad) = 64),
    outer_pad  bytea NOT NULL CHECK (length(outer_pad) = 64),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pgcanary_private.hash_keys IS
    'Secret keys for keyed hashes (HMAC-SHA256) of phone numbers and IPs. Generated at migration time; readable by the owner only.';
DO $$
DECLARE
    secret bytea := decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
    ipad   bytea := decode(repeat('36', 64), 'hex');
    opad   bytea := decode(repeat('5c', 64), 'hex');
BEGIN
    -- RFC 2104: the key zero-padded to the 64-byte block, XORed with 0x36 / 0x5c.
    FOR i IN 0 .. 31 LOOP
        ipad := set_byte(ipad, i, get_byte(secret, i) # 54);
        opad := set_byte(opad, i, get_byte(secret, i) # 92);
    END LOOP;
    INSERT INTO pgcanary_private.hash_keys (key_name, secret, inner_pad, outer_pad)
    VALUES ('rate_limit', secret, ipad, opad);
END
$$;
ALTER TABLE pgcanary_private.hash_keys ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.hash_keys FROM PUBLIC, anon, authenticated, service_role;

------------------------------------------------------------------------------------------
-- External handoff (ponte externa). At most one active handoff per vaga is a constraint,
-- so two concurrent opens cannot both win whatever the calling code does.
CREATE TABLE public.external_handoffs (
    handoff_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vaga_id         uuid NOT NULL,
    cliente_id      uuid NOT NULL,
    conversation_id uuid,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'closed')),
    opened_at       timestamptz NOT NULL DEFAULT now(),
    opened_by       text NOT NULL,
    confirmed_at    timestamptz,
    closed_at       timestamptz,
    closed_by       text,
    close_reason    text,
    CONSTRAINT one_active_handoff_per_vaga
        EXCLUDE USING btree (vaga_id WITH =) WHERE (status IN ('pending', 'confirmed')),
    CONSTRAINT confirmed_has_time CHECK ((status = 'pending') = (confirmed_at IS NULL) OR status = 'closed'),
    CONSTRAINT closed_has_reason CHECK ((status = 'closed') = (closed_at IS NOT NULL AND close_reason IS NOT NULL))
);
CREATE INDEX external_handoffs_cliente_idx ON public.external_handoffs (cliente_id, opened_at DESC);
COMMENT ON TABLE public.external_handoffs IS
    'External handoffs (ponte medico-divulgador): pending -> confirmed -> closed, or pending -> closed. Constraint one_active_handoff_per_vaga: at most one pending or confirmed handoff per vaga.';

------------------------------------------------------------------------------------------
-- The flags the kill switches and toggles write (through UPDATEs, so feature_flag_audit
-- records who and why). An existing row is the user's and is kept.
INSERT INTO public.feature_flags (flag_key, value, description) VALUES
    ('pausar_julia', 'false',
     'Kill switch: true pauses the assistant, every outbound send is blocked (assistant_paused). Write it with pausar_julia() / retomar_julia().'),
    ('campaigns', '{"enabled": true}',
     'Campaigns toggle: {"enabled": false} blocks every send with method campaign (campaigns_disabled). Write it with toggle_campanhas().'),
    ('external_handoff', '{"enabled": false, "canary_pct": 0}',
     'External handoff (ponte externa) canary: enabled and canary_pct (0-100), same bucketing as every canary. Write it with toggle_ponte_externa().')
ON CONFLICT (flag_key) DO NOTHING;

-- Closed to the API before this migration commits (db/0000 says why).
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['public.outbound_channels', 'public.outbound_methods', 'public.opt_outs', 'public.opt_out_audit', 'public.rate_limit_rules', 'public.rate_limit_hits', 'pgcanary_private.hash_keys', 'public.external_handoffs']::regclass[]); END $$;
