-- Reference for the blocked path: a plain INSERT of the row that path writes, its
-- outbound_blocked event, into business_events' twin (bench_events_plain: same partitions
-- and indexes, no trigger, no check), so both sides pay the same index entries and WAL.
\set n random(1, 1000000000)
INSERT INTO bench_events_plain (event_type, cliente_id, event_props, source) VALUES ('outbound_blocked', '0d5c2a1e-7b3f-4e6a-9c8d-1f2e3a4b5c6d', jsonb_build_object('block_reason', 'opted_out', 'channel', 'whatsapp', 'method', 'followup', 'telefone_prefix', left('55' || (11000000000 + :n)::text, 4)), 'guardrails') RETURNING event_id;
