SELECT public.evaluate_flag('business_events_canary', '6f1c7d2e-9a3b-4c5d-8e7f-0a1b2c3d4e5f'::uuid);
