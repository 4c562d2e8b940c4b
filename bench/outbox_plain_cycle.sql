-- Baseline: the same cycle as three plain statements on a bare table (bench/run.py creates
-- it: identity key, UNIQUE dedupe_key, and a partial index on queued rows so that the claim
-- does not walk past every sent row).
\set r random(1, 2000000000)
INSERT INTO bench_plain_outbox (dedupe_key, cliente_id, method, payload)
VALUES (md5(:r || ':' || :client_id || '-k'), md5(:r || ':' || :client_id)::uuid, 'campaign', '{"number": "5511999999999", "text": "bench"}'::jsonb);
WITH c AS (
    UPDATE bench_plain_outbox SET status = 'sending', attempts = attempts + 1
     WHERE id = (SELECT id FROM bench_plain_outbox WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING dedupe_key)
SELECT coalesce(max(dedupe_key), '') AS k, count(*) AS got FROM c \gset
\if :got
UPDATE bench_plain_outbox SET status = 'sent', sent_at = now() WHERE dedupe_key = :k;
\endif
