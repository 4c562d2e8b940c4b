-- Outbox: the seed's key and table, the dedupe window (across the hour boundary), claiming
-- and leases, outcome reports and the status guard, unknown outcomes and their resolution,
-- events, metrics, bad input (nothing changed), the RPC contract as PostgREST calls it.
-- Concurrency, workers and faults: tests/py/test_outbox*.py, tests/py/test_worker*.py.
begin;
select plan(109);

delete from outbound_messages;
create temp table ids (name text primary key, id uuid);
insert into ids values
    ('ana',   'd0000000-0000-4000-8000-000000000001'),
    ('bia',   'd0000000-0000-4000-8000-000000000002'),
    ('caio',  'd0000000-0000-4000-8000-000000000003'),
    ('duda',  'd0000000-0000-4000-8000-000000000004'),
    ('edu',   'd0000000-0000-4000-8000-000000000005'),
    ('fabi',  'd0000000-0000-4000-8000-000000000006'),
    ('gil',   'd0000000-0000-4000-8000-000000000007');
create function pg_temp.id(n text) returns uuid language sql stable as $$ select id from ids where name = n $$;
create function pg_temp.msg(n text, m text default 'campaign') returns outbound_messages language sql stable as
    $$ select * from outbound_messages where cliente_id = pg_temp.id(n) and method = m order by created_at desc limit 1 $$;
create function pg_temp.payload(t text default 'Olá!') returns jsonb language sql immutable as
    $$ select jsonb_build_object('number', '5511999990000', 'text', t) $$;
create function pg_temp.events(t text, c uuid) returns bigint language sql stable as
    $$ select count(*) from business_events where event_type = t and cliente_id = c $$;
grant select on ids to public;
grant execute on function pg_temp.id(text) to public;
grant execute on function pg_temp.payload(text) to public;

------------------------------------------------------------------------------------------
-- The seed's table and key
select has_table('public', 'outbound_messages', 'outbound_messages exists');
select columns_are('public', 'outbound_messages', array[
    'id', 'dedupe_key', 'cliente_id', 'conversation_id', 'method', 'template_ref', 'status', 'created_at', 'sent_at',
    'error', 'block_reason', 'held_count', 'payload', 'payload_sha256', 'attempts', 'next_attempt_at', 'lease_owner', 'lease_expires_at', 'provider_message_id',
    'updated_at'], 'outbound_messages has the seed''s columns plus the outbox''s');
select col_is_unique('public', 'outbound_messages', 'dedupe_key', 'dedupe_key is UNIQUE (the seed''s last line of defence)');
select is(gerar_dedupe_key('6f1c7d2e-9a3b-4c5d-8e7f-0a1b2c3d4e5f', 'campaign', 'vaga-1', '2025-01-01 10:59:00+00'),
          'b13fac777364665a4d621c40e71896bb', 'gerar_dedupe_key matches the seed''s Python (hashlib vector)');
select is(gerar_dedupe_key('6f1c7d2e-9a3b-4c5d-8e7f-0a1b2c3d4e5f', 'followup', null, '2025-12-31 20:30:00-03'),
          '902fefa41457677374c668b312b3837a', 'gerar_dedupe_key buckets the hour in UTC and writes none for no template');
select is(gerar_dedupe_key('6f1c7d2e-9a3b-4c5d-8e7f-0a1b2c3d4e5f', 'followup', '', '2025-12-31 23:00:00+00'),
          '902fefa41457677374c668b312b3837a', 'an empty template is none, as `template_ref or ''none''` in Python');
select is(gerar_dedupe_key('00000000-0000-4000-8000-000000000000', 'reply', 'vaga-ção', '2026-03-01 00:59:59+00'),
          '402f78a493a2172e0e0c3a80c7555c78', 'gerar_dedupe_key hashes UTF-8 like Python');
select isnt(gerar_dedupe_key(pg_temp.id('ana'), 'campaign', 'v', '2025-01-01 10:59:00+00'),
            gerar_dedupe_key(pg_temp.id('ana'), 'campaign', 'v', '2025-01-01 11:01:00+00'),
            'the seed''s hourly keys of 10:59 and 11:01 differ (the gap the window closes)');
select throws_ok($$ select gerar_dedupe_key(null, 'campaign') $$, 'PC030', null, 'gerar_dedupe_key refuses a null client');

------------------------------------------------------------------------------------------
-- Enqueue with dedupe
select is((select r - 'dedupe_key' - 'message_id' from (select pode_enviar_com_dedupe(pg_temp.id('ana'), 'campaign', 'vaga-1', pg_temp.payload()) r) x),
          '{"pode_enviar": true, "motivo": null}'::jsonb, 'the first message is accepted');
select is((select dedupe_key from outbound_messages where cliente_id = pg_temp.id('ana')),
          gerar_dedupe_key(pg_temp.id('ana'), 'campaign', 'vaga-1'), 'the stored key is the seed''s key for now');
select is((select status from outbound_messages where cliente_id = pg_temp.id('ana')), 'queued', 'it is queued');
select is((select r ->> 'motivo' from (select pode_enviar_com_dedupe(pg_temp.id('ana'), 'campaign', 'vaga-1', pg_temp.payload()) r) x),
          'duplicata', 'the same client, method and template is refused as duplicata');
select is((select (r ->> 'duplicate_of')::uuid from (select pode_enviar_com_dedupe(pg_temp.id('ana'), 'campaign', 'vaga-1') r) x),
          (pg_temp.msg('ana')).id, 'the refusal names the message it repeats');
select is((select count(*) from outbound_messages where cliente_id = pg_temp.id('ana')), 1::bigint, 'refusals insert nothing');
select ok((pode_enviar_com_dedupe(pg_temp.id('ana'), 'campaign', 'vaga-2', pg_temp.payload()) ->> 'pode_enviar')::boolean,
          'another template for the same client is accepted');
select ok((pode_enviar_com_dedupe(pg_temp.id('ana'), 'followup', 'vaga-1', pg_temp.payload()) ->> 'pode_enviar')::boolean,
          'another method for the same client is accepted');
select ok((pode_enviar_com_dedupe(pg_temp.id('bia'), 'campaign', 'vaga-1', pg_temp.payload()) ->> 'pode_enviar')::boolean,
          'another client with the same template is accepted');

-- Across the hour boundary: a message of the previous hour that is still inside the window
-- (halfway between now() - 60 minutes and the top of this hour, wherever now() falls), so its
-- key is the previous hour's: 10:59 then 11:01.
create function pg_temp.prev_hour_in_window() returns timestamptz language sql stable as
    $$ select date_trunc('hour', now()) - (date_trunc('hour', now()) - (now() - interval '60 minutes')) / 2 $$;
insert into outbound_messages (dedupe_key, cliente_id, method, template_ref, status, sent_at, created_at)
values (gerar_dedupe_key(pg_temp.id('caio'), 'campaign', 'vaga-1', pg_temp.prev_hour_in_window()),
        pg_temp.id('caio'), 'campaign', 'vaga-1', 'sent', pg_temp.prev_hour_in_window(), pg_temp.prev_hour_in_window());
select isnt(gerar_dedupe_key(pg_temp.id('caio'), 'campaign', 'vaga-1'), (pg_temp.msg('caio')).dedupe_key,
            'the earlier message has the previous hour''s key');
select is(pode_enviar_com_dedupe(pg_temp.id('caio'), 'campaign', 'vaga-1', pg_temp.payload()) ->> 'motivo', 'duplicata',
          'a message of the previous hour inside the window is refused (10:59 then 11:01)');
select ok(now() - pg_temp.prev_hour_in_window() < interval '60 minutes'
          and pg_temp.prev_hour_in_window() < date_trunc('hour', now()), 'that message is in the previous hour and in the window');
-- Outside the window: sent 61 minutes ago, accepted; with a 2-hour window, refused.
insert into outbound_messages (dedupe_key, cliente_id, method, template_ref, status, sent_at, created_at)
values (gerar_dedupe_key(pg_temp.id('duda'), 'campaign', 'vaga-1', now() - interval '61 minutes'),
        pg_temp.id('duda'), 'campaign', 'vaga-1', 'sent', now() - interval '61 minutes', now() - interval '61 minutes');
select is(pode_enviar_com_dedupe(pg_temp.id('duda'), 'campaign', 'vaga-1', pg_temp.payload(), dedupe_minutes => 120) ->> 'motivo',
          'duplicata', 'a 120-minute window refuses a message sent 61 minutes ago');
select ok((pode_enviar_com_dedupe(pg_temp.id('duda'), 'campaign', 'vaga-1', pg_temp.payload()) ->> 'pode_enviar')::boolean,
          'the default 60-minute window accepts a message sent 61 minutes ago');
-- A failed message does not hold the window, but the seed's key of this hour still does.
insert into outbound_messages (dedupe_key, cliente_id, method, template_ref, status, error, created_at)
values (gerar_dedupe_key(pg_temp.id('edu'), 'campaign', 'vaga-1', now() - interval '1 hour'),
        pg_temp.id('edu'), 'campaign', 'vaga-1', 'failed', 'HTTP 400', now() - interval '30 minutes');
select ok((pode_enviar_com_dedupe(pg_temp.id('edu'), 'campaign', 'vaga-1', pg_temp.payload()) ->> 'pode_enviar')::boolean,
          'a failed message does not hold the window (it was not sent)');
update outbound_messages set status = 'failed', error = 'HTTP 400' where cliente_id = pg_temp.id('edu') and status = 'queued';
select is(pode_enviar_com_dedupe(pg_temp.id('edu'), 'campaign', 'vaga-1', pg_temp.payload()) ->> 'motivo', 'duplicata',
          'a failed message of this hour still holds the seed''s UNIQUE key');

-- The seed's own flow, verbatim: a raw INSERT and UPDATEs by dedupe_key.
INSERT INTO outbound_messages (dedupe_key, cliente_id, method, template_ref, status)
VALUES ('seed-key-1', 'd0000000-0000-4000-8000-000000000007', 'reply', NULL, 'queued');
select throws_ok($$ INSERT INTO outbound_messages (dedupe_key, cliente_id, method, status)
                    VALUES ('seed-key-1', 'd0000000-0000-4000-8000-000000000007', 'reply', 'queued') $$,
                 '23505', null, 'the seed''s duplicate INSERT fails on the UNIQUE key, as its Python expects');
select ok(marcar_enviado('seed-key-1'), 'the seed''s caller marks its own send');
select is((select status from outbound_messages where dedupe_key = 'seed-key-1'), 'sent', 'the seed''s row is sent');
-- Whatever the path, a final row keeps no payload: a raw INSERT of a sent row, a raw UPDATE to cancelled.
INSERT INTO outbound_messages (dedupe_key, cliente_id, method, status, payload)
VALUES ('raw-sent-1', 'd0000000-0000-4000-8000-000000000006', 'reply', 'sent', pg_temp.payload('raw'));
select is((select payload is null and payload_sha256 = sha256(convert_to(pg_temp.payload('raw')::text, 'UTF8'))
             from outbound_messages where dedupe_key = 'raw-sent-1'), true, 'a raw INSERT of a sent row keeps only the hash');
INSERT INTO outbound_messages (dedupe_key, cliente_id, method, status, payload)
VALUES ('raw-cancel-1', 'd0000000-0000-4000-8000-000000000006', 'reply', 'queued', pg_temp.payload('raw'));
UPDATE outbound_messages SET status = 'cancelled' WHERE dedupe_key = 'raw-cancel-1';
select is((select payload is null and payload_sha256 is not null from outbound_messages where dedupe_key = 'raw-cancel-1'),
          true, 'a raw UPDATE to cancelled drops the payload');
delete from outbound_messages where dedupe_key in ('raw-sent-1', 'raw-cancel-1');

-- Bad input: refused with PC030, nothing inserted.
create temp table before_bad as select id, status, attempts from outbound_messages;
select throws_ok($$ select pode_enviar_com_dedupe(null, 'campaign') $$, 'PC030', null, 'a null client is refused');
select throws_ok($$ select pode_enviar_com_dedupe(pg_temp.id('gil'), 'Campaign!') $$, 'PC030', null, 'a malformed method is refused');
select throws_ok($$ select pode_enviar_com_dedupe(pg_temp.id('gil'), 'campaing') $$, 'PC021', 'unknown outbound method: ''campaing''',
                 'a misspelled method is refused with PC021 (it would be queued, then cancelled at send time)');
select throws_ok($$ select pode_enviar_com_dedupe(pg_temp.id('gil'), 'campaign', null, '{"number": "123", "text": "x"}') $$,
                 'PC030', null, 'a payload with a short number is refused');
select throws_ok($$ select pode_enviar_com_dedupe(pg_temp.id('gil'), 'campaign', null, '{"number": "5511999990000", "text": " "}') $$,
                 'PC030', null, 'a payload with blank text is refused');
select throws_ok($$ select pode_enviar_com_dedupe(pg_temp.id('gil'), 'campaign', null, '["5511999990000"]') $$,
                 'PC030', null, 'a payload that is not an object is refused');
select throws_ok($$ select pode_enviar_com_dedupe(pg_temp.id('gil'), 'campaign', dedupe_minutes => 0) $$,
                 'PC030', null, 'a window of 0 minutes is refused');
select is((select count(*) from (select id, status, attempts from outbound_messages except select * from before_bad) d), 0::bigint,
          'bad enqueues changed nothing');

------------------------------------------------------------------------------------------
-- Claiming
create temp table fabi as select pode_enviar_com_dedupe(pg_temp.id('fabi'), 'campaign', t, pg_temp.payload()) r from unnest(array['a', 'b', 'c']) t;
update outbound_messages set next_attempt_at = now() + interval '1 hour' where cliente_id = pg_temp.id('bia');
update outbound_messages set next_attempt_at = now() - interval '1 minute' where cliente_id = pg_temp.id('ana') and method = 'campaign';
create temp table claimed as select * from outbox_claim('w1', 2, 30);
select is((select count(*) from claimed), 2::bigint, 'outbox_claim returns at most batch_size messages');
select ok(not exists (select from claimed where cliente_id = pg_temp.id('bia')), 'a message not yet due is not claimed');
select ok(not exists (select from claimed c join outbound_messages m using (id) where m.payload is null),
          'a message without payload (the seed''s flow) is never claimed');
select is((select array_agg(cliente_id::text || method order by cliente_id, method) from claimed),
          array[pg_temp.id('ana')::text || 'campaign', pg_temp.id('ana')::text || 'campaign'],
          'the oldest due messages are claimed first');
select is((select count(*) from outbound_messages m join claimed c using (id)
           where m.status = 'sending' and m.lease_owner = 'w1' and m.attempts = 1
             and m.lease_expires_at = now() + interval '30 seconds'), 2::bigint,
          'claimed messages are sending, leased to the worker for lease_seconds, one attempt counted');
select is((select count(*) from outbox_claim('w2', 100, 30) c where c.id in (select id from claimed)), 0::bigint,
          'another worker does not get the claimed messages');
select isnt((select count(*) from outbound_messages where lease_owner = 'w2'), 0::bigint, 'the second worker got the rest');
select is((select count(*) from outbox_claim('w3', 100, 30)), 0::bigint, 'nothing left to claim');
create temp table before_claim as select id, status, attempts from outbound_messages;
select throws_ok($$ select * from outbox_claim('', 10, 30) $$, 'PC030', null, 'an empty worker_id is refused');
select throws_ok($$ select * from outbox_claim('w', 0, 30) $$, 'PC030', null, 'a batch of 0 is refused');
select throws_ok($$ select * from outbox_claim('w', 10, 0) $$, 'PC030', null, 'a lease of 0 seconds is refused');
select is((select count(*) from (select id, status, attempts from outbound_messages except select * from before_claim) d), 0::bigint,
          'bad claims changed nothing');

------------------------------------------------------------------------------------------
-- Outcome reports and the status guard
select ok(marcar_enviado((select dedupe_key from claimed order by id limit 1), 'prov-1'), 'marcar_enviado marks a sending message sent');
select is((select status || ':' || provider_message_id || ':' || (sent_at is not null) from outbound_messages
            where dedupe_key = (select dedupe_key from claimed order by id limit 1)),
          'sent:prov-1:true', 'sent with the provider''s message id and sent_at');
select is((select payload is null and payload_sha256 = sha256(convert_to(pg_temp.payload()::text, 'UTF8'))
             from outbound_messages where dedupe_key = (select dedupe_key from claimed order by id limit 1)),
          true, 'a sent message keeps no payload (no phone, no text), only its sha256 for reconciliation');
select ok(not marcar_enviado((select dedupe_key from claimed order by id limit 1)), 'a repeated marcar_enviado is accepted and says so');
select throws_ok($$ select marcar_enviado('no-such-key') $$, 'PC031', null, 'marcar_enviado of an unknown key is PC031');
select throws_ok(format($$ select marcar_falha(%L, 'HTTP 400') $$, (select dedupe_key from claimed order by id limit 1)),
                 'PC032', null, 'a sent message cannot be marked failed');
select throws_ok(format($$ update outbound_messages set status = 'queued' where dedupe_key = %L $$,
                        (select dedupe_key from claimed order by id limit 1)),
                 'PC032', null, 'a sent message never goes back, not even by raw UPDATE');
select throws_ok(format($$ select marcar_falha(%L, '') $$, (select dedupe_key from claimed order by id desc limit 1)),
                 'PC030', null, 'marcar_falha needs an error');

-- Retryable failure: queued again with backoff while attempts < 3.
select is(marcar_falha((select dedupe_key from claimed order by id desc limit 1), 'HTTP 503', retryable => true), 'queued',
          'a retryable failure queues the message again');
select ok((select next_attempt_at > now() + interval '20 seconds' and lease_owner is null from outbound_messages
            where dedupe_key = (select dedupe_key from claimed order by id desc limit 1)),
          'the retry waits (30 s with jitter) and the lease is gone');
update outbound_messages set attempts = 3, status = 'sending', lease_owner = 'w1', lease_expires_at = now()
 where dedupe_key = (select dedupe_key from claimed order by id desc limit 1);
select is(marcar_falha((select dedupe_key from claimed order by id desc limit 1), 'HTTP 503', retryable => true), 'failed',
          'after 3 attempts a retryable failure is final');
select is(pg_temp.events('outbound_failed', (select cliente_id from claimed order by id desc limit 1)), 1::bigint,
          'a final failure records outbound_failed');
select is((select event_props ->> 'error_class' from business_events where event_type = 'outbound_failed'
            and cliente_id = (select cliente_id from claimed order by id desc limit 1)), 'HTTP 503',
          'the event carries the error class');
select is((select payload is null and payload_sha256 is not null from outbound_messages
            where dedupe_key = (select dedupe_key from claimed order by id desc limit 1)),
          true, 'a failed message drops its payload too');
select is(marcar_falha((select dedupe_key from claimed order by id desc limit 1), 'HTTP 503'), 'failed',
          'a repeated marcar_falha on a failed message is accepted');
select throws_ok(format($$ update outbound_messages set status = 'sent' where dedupe_key = %L $$,
                        (select dedupe_key from claimed order by id desc limit 1)),
                 'PC032', null, 'failed is final: it cannot become sent');

------------------------------------------------------------------------------------------
-- Unknown outcomes: reported, or a lease that expired. Never requeued automatically.
create temp table w2 as select m.* from outbound_messages m where lease_owner = 'w2' and status = 'sending' order by id;
select is((select count(*) from w2), 5::bigint, 'the second worker holds five messages');
select is(outbox_mark_unknown((select dedupe_key from w2 limit 1), 'read timeout'), 'unknown',
          'a read timeout makes the message unknown');
select is(pg_temp.events('outbound_unknown_outcome', (select cliente_id from w2 limit 1)), 1::bigint,
          'an unknown outcome records outbound_unknown_outcome');
select throws_ok($$ select outbox_mark_unknown('seed-key-1', 'read timeout') $$, 'PC032', null,
                 'a sent message cannot become unknown');
update outbound_messages set next_attempt_at = now() - interval '1 second' where id in (select id from w2 offset 1 limit 2);
select is(outbox_expire_leases(), 2, 'two expired leases are found');
select is((select count(*) from outbound_messages where id in (select id from w2 offset 1 limit 2) and status = 'unknown'
             and error like 'lease expired while sending (worker w2)'), 2::bigint,
          'messages whose lease expired while sending become unknown');
select is((select count(*) from business_events where event_type = 'outbound_unknown_outcome'
             and event_props ->> 'cause' = 'lease_expired'), 2::bigint, 'each expired lease records an event with its cause');
select is((select count(*) from outbox_claim('w3', 100, 30)), 0::bigint, 'unknown messages are never claimed again');
select is(outbox_expire_leases(), 0, 'live leases are left alone');
select is((select count(*) from outbox_unknown()), 3::bigint, 'outbox_unknown lists the three for reconciliation');
select is((select count(*) from outbound_messages where id in (select id from w2 limit 3) and status = 'unknown'
             and payload is not null and payload_sha256 is null), 3::bigint,
          'an unknown message keeps its payload: it may still be requeued and sent');
-- A late report of success for a message that went unknown is the best evidence there is.
select ok(marcar_enviado((select dedupe_key from w2 offset 2 limit 1), 'prov-late'), 'a late success resolves an unknown message as sent');
select is((select count(*) from outbound_message_audit where message_id = (select id from w2 offset 2 limit 1)
             and old_status = 'unknown' and new_status = 'sent'), 1::bigint, 'and the change out of unknown is audited');

-- Release: the worker gives back what it did not send (shutdown, circuit open).
select is(outbox_release('w1', array(select id from w2 offset 3)), 0, 'a worker cannot release another worker''s messages');
select throws_ok($$select outbox_release('w2', array(select id from w2 offset 3), 'infinity')$$, 'PC030', 'retry_at must be at most one day ahead',
                 'retry_at => infinity is refused with PC030 (it would park the message for good)');
select throws_ok($$select outbox_release('w2', array(select id from w2 offset 3), now() + interval '400 days')$$, 'PC030', null,
                 'retry_at a year ahead is refused with PC030');
select is((select count(*) from outbound_messages where id in (select id from w2 offset 3) and status = 'sending' and lease_owner = 'w2'), 2::bigint,
          'after the refused releases the two messages are still w2''s, sending');
select is(outbox_release('w2', array(select id from w2 offset 3), now() + interval '5 seconds'), 2, 'the owner releases its two');
select is((select count(*) from outbound_messages where id in (select id from w2 offset 3)
            and status = 'queued' and attempts = 0 and lease_owner is null and next_attempt_at = now() + interval '5 seconds'),
          2::bigint, 'released messages are queued again, the attempt not counted, due at retry_at');

------------------------------------------------------------------------------------------
-- Operator resolution
create temp table before_resolve as select id, status from outbound_messages;
select throws_ok(format($$ select outbox_resolve(%L, 'sent', '') $$, (select id from w2 limit 1)),
                 'PC030', null, 'resolving needs a reason');
select throws_ok(format($$ select outbox_resolve(%L, 'maybe', 'checked') $$, (select id from w2 limit 1)),
                 'PC030', null, 'an unknown resolution is refused');
select throws_ok(format($$ select outbox_resolve(%L, 'sent', 'checked') $$, (select id from outbound_messages where dedupe_key = 'seed-key-1')),
                 'PC032', null, 'only unknown messages are resolved');
select throws_ok($$ select outbox_resolve('00000000-0000-4000-8000-00000000dead', 'sent', 'checked') $$,
                 'PC031', null, 'resolving a missing message is PC031');
select is((select count(*) from (select id, status from outbound_messages except select * from before_resolve) d), 0::bigint,
          'refused resolutions changed nothing');
select is(outbox_resolve((select id from w2 limit 1), 'sent', 'in Evolution history', 'prov-9') ->> 'status', 'sent',
          'an operator resolves an unknown message as sent');
select is((select actor || '|' || reason from outbound_message_audit where message_id = (select id from w2 limit 1)),
          current_user || '|sent: in Evolution history', 'the resolution is audited with actor and reason');
select is(outbox_resolve((select id from w2 offset 1 limit 1), 'requeue', 'not in Evolution history') ->> 'status', 'queued',
          'an operator may requeue an unknown message');
select is((select payload from outbound_messages where id = (select id from w2 offset 1 limit 1)), pg_temp.payload(),
          'the requeued message still has what the worker sends');
select is((select dedupe_key from outbound_messages where id = (select id from w2 offset 1 limit 1)),
          gerar_dedupe_key((select cliente_id from w2 offset 1 limit 1), (select method from w2 offset 1 limit 1),
                           (select template_ref from w2 offset 1 limit 1)),
          'a requeued message takes this hour''s key, so the window finds it');
-- A requeue that would repeat a newer message of the same scope is refused: an unknown
-- message of 3 hours ago, and this hour's message of the same scope.
insert into outbound_messages (dedupe_key, cliente_id, method, template_ref, status, created_at, lease_owner, lease_expires_at)
values (gerar_dedupe_key(pg_temp.id('duda'), 'campaign', 'vaga-1', now() - interval '3 hours'), pg_temp.id('duda'),
        'campaign', 'vaga-1', 'sending', now() - interval '3 hours', 'w9', now());
update outbound_messages set status = 'unknown' where dedupe_key = gerar_dedupe_key(pg_temp.id('duda'), 'campaign', 'vaga-1', now() - interval '3 hours');
select throws_ok(format($$ select outbox_resolve(%L, 'requeue', 'not delivered') $$,
                        (select id from outbound_messages where dedupe_key = gerar_dedupe_key(pg_temp.id('duda'), 'campaign', 'vaga-1', now() - interval '3 hours'))),
                 'PC032', null, 'a requeue that would repeat a newer message of the same scope is refused');

------------------------------------------------------------------------------------------
-- Metrics
select is(array(select jsonb_object_keys(outbox_metrics()) order by 1),
          array['depth', 'duplicates_detected', 'oldest_queued_age_seconds', 'sends_per_minute', 'unknown'],
          'outbox_metrics has depth, oldest queued age, sends per minute, unknown, duplicates');
select is((outbox_metrics() ->> 'duplicates_detected')::int, 0, 'no duplicates detected');
select is((outbox_metrics() ->> 'unknown')::int, (select count(*)::int from outbound_messages where status = 'unknown'),
          'the unknown count is the number of unknown messages');
select is((outbox_metrics() -> 'depth' ->> 'queued')::int, (select count(*)::int from outbound_messages where status = 'queued'),
          'depth counts queued messages');
-- The detector can fire: two sent messages of one scope 5 minutes apart, written raw.
insert into outbound_messages (dedupe_key, cliente_id, method, template_ref, status, sent_at, created_at) values
    ('dup-1', pg_temp.id('fabi'), 'campaign', 'x', 'sent', now(), now() - interval '10 minutes'),
    ('dup-2', pg_temp.id('fabi'), 'campaign', 'x', 'sent', now(), now() - interval '5 minutes');
select is((outbox_metrics() ->> 'duplicates_detected')::int, 1, 'two sends of one scope inside the window count as a duplicate');
delete from outbound_messages where dedupe_key in ('dup-1', 'dup-2');

------------------------------------------------------------------------------------------
-- As PostgREST calls it
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role", "sub": "backend"}', true) is not null;
select ok((pode_enviar_com_dedupe(cliente_id => pg_temp.id('gil'), method => 'followup', template_ref => 't',
                                  payload => pg_temp.payload(), conversation_id => null) ->> 'pode_enviar')::boolean,
          'service_role enqueues with named arguments');
select is((select count(*) from outbox_claim(worker_id => 'svc', batch_size => 10, lease_seconds => 30)), 2::bigint,
          'service_role claims with named arguments');
select lives_ok($$ select outbox_metrics() $$, 'service_role reads the metrics');
select throws_ok($$ insert into outbound_message_audit (message_id, dedupe_key, old_status, new_status, actor)
                    values (gen_random_uuid(), 'k', 'unknown', 'sent', 'me') $$, '42501', null,
                 'service_role cannot write the outbox audit trail');
reset role;
set local role anon;
select throws_ok($$ select pode_enviar_com_dedupe(cliente_id => 'd0000000-0000-4000-8000-000000000001', method => 'campaign') $$,
                 '42501', null, 'anon cannot enqueue');
select throws_ok($$ select * from outbox_claim(worker_id => 'x', batch_size => 1, lease_seconds => 1) $$, '42501', null, 'anon cannot claim');
reset role;
set local role authenticated;
select throws_ok($$ select marcar_enviado(dedupe_key => 'seed-key-1') $$, '42501', null, 'authenticated cannot mark a message sent');
select throws_ok($$ select outbox_resolve(message_id => gen_random_uuid(), resolution => 'sent', reason => 'x') $$,
                 '42501', null, 'authenticated cannot resolve unknown messages');
reset role;

select * from finish();
rollback;
