-- The same row into bench_events_plain: business_events' twin (same columns, day partitions,
-- key and indexes) without triggers or checks. RETURNING the id, as emit_event does.
INSERT INTO bench_events_plain (event_type, cliente_id, conversation_id, event_props, source) VALUES ('outbound_blocked', gen_random_uuid(), gen_random_uuid(), '{"block_reason": "opted_out", "channel": "whatsapp", "method": "campaign"}', 'backend') RETURNING event_id;
