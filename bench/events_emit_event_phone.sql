-- Reference: props carrying a phone number, so the scrub walks them.
SELECT public.emit_event('outbound_fallback', gen_random_uuid(), NULL, '{"function": "legacy_send", "telefone": "+55 11 98765-4321"}');
