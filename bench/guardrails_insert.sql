-- Baseline: a plain one-row INSERT, one commit per call, like each guardrail call.
\set n random(1, 1000000000)
INSERT INTO bench_plain_insert (phone) VALUES ('55' || (11000000000 + :n)::text);
