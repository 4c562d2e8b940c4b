-- emit_event with the canary at 100% (every call writes), typical guardrail props, a new
-- client per call. Run in the same pgbench run as events_plain_insert.sql.
SELECT public.emit_event('outbound_blocked', gen_random_uuid(), gen_random_uuid(), '{"block_reason": "opted_out", "channel": "whatsapp", "method": "campaign"}');
