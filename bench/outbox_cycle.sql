-- One message through the outbox: enqueue with dedupe, claim 1, mark sent. Three RPCs, three
-- transactions, as a caller and a worker make them. A fresh client id per message (md5 of a
-- random number and the pgbench client) so that dedupe admits it.
\set r random(1, 2000000000)
SELECT public.pode_enviar_com_dedupe(md5(:r || ':' || :client_id)::uuid, 'campaign', NULL, '{"number": "5511999999999", "text": "bench"}'::jsonb);
SELECT coalesce(max(dedupe_key), '') AS k, count(*) AS got FROM public.outbox_claim('bench-' || :client_id, 1, 60) \gset
\if :got
SELECT public.marcar_enviado(:k);
\endif
