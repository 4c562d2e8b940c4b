-- The alerts outbox (functions/alerts.sql, docs/alerts.md): queue, claim, deliver, retry with
-- backoff; bad input refused with PC083 and nothing changed; the guard queues its P0 alert in
-- its own transaction; service_role through the PostgREST-style call, anon / authenticated refused.
begin;
select plan(20);

delete from public.alert_outbox;
select alert_enqueue('daily_health', 'Painel diário: OK') as a1 \gset
select is((select kind || ':' || attempts || ':' || (delivered_at is null) from alert_outbox where alert_id = :a1), 'daily_health:0:true',
          'alert_enqueue queues an undelivered alert');
select is((select count(*) from alert_claim(10)), 1::bigint, 'alert_claim returns the due alert');
select is((select count(*) from alert_claim(10)), 0::bigint, 'a claimed alert is not claimed again at once (no double post)');
select ok(alert_failed(:a1, 'HTTP 500') > now(), 'alert_failed schedules a retry');
select is((select last_error from alert_outbox where alert_id = :a1), 'HTTP 500', 'the failure is kept (a class, no content)');
update alert_outbox set next_attempt_at = now() where alert_id = :a1;
select is((select attempts from alert_claim(10)), 2, 'after the backoff it is claimed again, second attempt');
select is(alert_delivered(:a1), true, 'alert_delivered marks it');
select is(alert_delivered(:a1), false, 'a second alert_delivered says it already was');
update alert_outbox set next_attempt_at = now() - interval '1 hour' where alert_id = :a1;
select is((select count(*) from alert_claim(10)), 0::bigint, 'a delivered alert is never claimed again');

-- Bad input: our code, nothing changed.
select count(*) as n0 from alert_outbox \gset
select throws_ok($$select alert_enqueue('Bad Kind', 'x')$$, 'PC083', null, 'a bad kind raises PC083');
select throws_ok($$select alert_enqueue('guard', '   ')$$, 'PC083', null, 'an empty text raises PC083');
select throws_ok($$select alert_enqueue('guard', repeat('x', 3001))$$, 'PC083', null, 'an oversize text raises PC083');
select throws_ok($$select alert_delivered(-1)$$, 'PC083', null, 'an unknown id raises PC083');
select throws_ok($$select * from alert_claim(0)$$, 'PC083', null, 'max_rows 0 raises PC083');
select is((select count(*) from alert_outbox), :n0::bigint, 'after the refused calls nothing was queued');

-- The guard text is the database's: counts, flags, our incident id.
select alike(pgcanary_private.guard_alert_text('{"outbound_to_opted_out": 1, "since": "2026-12-05T10:00:00Z", "paused_now": true, "rolled_back": [{"flag_key": "guardrails_canary", "from": 50, "to": 10}], "incident_id": 7}'),
            '%guardrails_canary 50% → 10%%P0 #7%', 'the guard alert names the rollback and the incident');

-- PostgREST-style: service_role works, anon and authenticated are refused, nobody deletes.
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true) \g /dev/null
select lives_ok($$select alert_enqueue(kind => 'guard', text => 'service test')$$, 'service_role queues an alert by name');
select throws_ok($$delete from alert_outbox$$, '42501', null, 'service_role cannot delete alerts');
reset role;
set local role anon;
select throws_ok($$select alert_enqueue(kind => 'guard', text => 'anon')$$, '42501', null, 'anon cannot queue alerts');
reset role;
set local role authenticated;
select throws_ok($$select * from alert_outbox$$, '42501', null, 'authenticated cannot read alerts');
reset role;

select * from finish();
rollback;
