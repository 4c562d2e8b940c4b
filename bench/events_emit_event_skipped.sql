-- Reference: with the canary at 2%, most calls are skipped by the rollout and write nothing.
SELECT public.emit_event('outbound_blocked', gen_random_uuid(), gen_random_uuid(), '{"block_reason": "opted_out", "channel": "whatsapp", "method": "campaign"}');
