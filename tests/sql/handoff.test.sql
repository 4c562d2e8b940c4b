-- External handoff: the toggle (canary and kill switch), one active handoff per vaga as a
-- constraint, open / confirm / close, the per-IP limit on confirm, bad input, security.
-- Two concurrent opens for one vaga: tests/py/test_handoff_concurrency.py.
begin;
select plan(55);

update feature_flags set value = '{"enabled": false, "canary_pct": 0}' where flag_key = 'external_handoff';

-- Clients on either side of a 10% canary, found by the same bucketing every flag uses.
create temp table c as
select (select id from (select md5('handoff-client-' || g)::uuid as id from generate_series(1, 500) g) s
        where canary_bucket(id) < 10 limit 1) as inside,
       (select id from (select md5('handoff-client-' || g)::uuid as id from generate_series(1, 500) g) s
        where canary_bucket(id) >= 10 limit 1) as outside;
grant select on c to public;
create function pg_temp.inside() returns uuid language sql stable as $$ select inside from c $$;
create function pg_temp.outside() returns uuid language sql stable as $$ select outside from c $$;

------------------------------------------------------------------------------------------
-- toggle_ponte_externa: status | on [pct] | off
select is(toggle_ponte_externa('status'), '{"enabled": false, "canary_pct": 0, "phase": "disabled"}'::jsonb,
          'toggle_ponte_externa status reports the flag off');
select is(toggle_ponte_externa('on', 10), '{"enabled": true, "canary_pct": 10, "phase": "canary_10pct"}'::jsonb,
          'toggle_ponte_externa on 10 opens the handoff to 10% of clients');
select is((select value from feature_flags where flag_key = 'external_handoff'), '{"enabled": true, "canary_pct": 10}'::jsonb,
          'the flag keeps the seed''s shape (enabled, canary_pct)');
select is((select reason from feature_flag_audit where flag_key = 'external_handoff' order by audit_id desc limit 1),
          'toggle_ponte_externa on 10', 'toggle_ponte_externa is audited with a default reason');
select is(is_enabled('external_handoff', pg_temp.inside()), true, 'a client in the first 10 buckets is in the handoff canary');
select is(is_enabled('external_handoff', pg_temp.outside()), false, 'a client outside the first 10 buckets is not');

------------------------------------------------------------------------------------------
-- open_handoff: the flag decides, the constraint keeps one active handoff per vaga
select throws_ok(format('select open_handoff(%L, %L)', 'f0000000-0000-4000-8000-000000000001', pg_temp.outside()),
                 'PC027', null, 'opening a handoff for a client outside the canary raises PC027');
create temp table h1 as select open_handoff('f0000000-0000-4000-8000-000000000001', pg_temp.inside(), 'c0000000-0000-4000-8000-0000000000aa') as res;
select is((select res ->> 'status' from h1), 'pending', 'open_handoff opens a pending handoff for a client in the canary');
select is((select res ->> 'opened_by' from h1), pgcanary_private.current_actor(), 'open_handoff records who opened it');
select is((select count(*) from business_events where event_type = 'handoff_opened'
           and event_props ->> 'handoff_id' = (select res ->> 'handoff_id' from h1)), 1::bigint, 'open_handoff records handoff_opened');

create temp table before_dup as select count(*) as n from external_handoffs;
select throws_ok(format('select open_handoff(%L, %L)', 'f0000000-0000-4000-8000-000000000001', pg_temp.inside()),
                 'PC025', 'vaga f0000000-0000-4000-8000-000000000001 already has an active handoff',
                 'a second handoff for the same vaga raises PC025 naming the vaga');
select is((select count(*) from external_handoffs), (select n from before_dup), 'the refused handoff wrote nothing');
select is(open_handoff('f0000000-0000-4000-8000-000000000002', pg_temp.inside()) ->> 'status', 'pending',
          'another vaga gets its own handoff');
select is((select contype::text from pg_constraint where conname = 'one_active_handoff_per_vaga'
           and conrelid = 'public.external_handoffs'::regclass), 'x',
          'one active handoff per vaga is an exclusion constraint on the table');
select throws_ok($$ insert into external_handoffs (vaga_id, cliente_id, opened_by, status, confirmed_at)
                    values ('f0000000-0000-4000-8000-000000000001', gen_random_uuid(), 'raw sql', 'confirmed', now()) $$,
                 '23P01', null, 'the constraint also stops a raw INSERT that bypasses the RPC');

------------------------------------------------------------------------------------------
-- confirm_handoff: per-IP limit first, then pending -> confirmed
select is(confirm_handoff((select (res ->> 'handoff_id')::uuid from h1), '203.0.113.20') - 'handoff_id',
          '{"confirmed": true, "reason": null}'::jsonb, 'confirm_handoff confirms a pending handoff');
select is((select status from external_handoffs where handoff_id = (select (res ->> 'handoff_id')::uuid from h1)), 'confirmed',
          'the handoff is confirmed');
select is(confirm_handoff((select (res ->> 'handoff_id')::uuid from h1), '203.0.113.20') ->> 'reason', 'already_confirmed',
          'a second confirmation succeeds as already_confirmed');
select is((select count(*) from business_events where event_type = 'handoff_confirmed'
           and event_props ->> 'handoff_id' = (select res ->> 'handoff_id' from h1)), 1::bigint, 'handoff_confirmed is recorded once');
select is(confirm_handoff('f0000000-0000-4000-8000-0000000000ff', '203.0.113.21') - 'handoff_id', '{"confirmed": false, "reason": "not_found"}'::jsonb,
          'confirming an unknown handoff returns not_found');
select is((select count(*) from rate_limit_hits where key_hash = pgcanary_private.keyed_hash('handoff_confirm_ip:203.0.113.21')), 1::bigint,
          'a confirmation of an unknown handoff still counts against the IP');

create temp table probe as
select n, confirm_handoff(('f0000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, '203.0.113.22') as res from generate_series(1, 31) n;
select is((select count(*) from probe where res ->> 'reason' = 'not_found'), 30::bigint, 'one IP gets 30 answers a minute');
select is((select res - 'handoff_id' - 'retry_after_seconds' from probe where n = 31), '{"confirmed": false, "reason": "rate_limited"}'::jsonb,
          'the 31st confirmation in a minute from one IP is rate_limited');
select cmp_ok((select (res ->> 'retry_after_seconds')::numeric from probe where n = 31), '>', 0::numeric,
              'a rate-limited confirmation says when to retry');

create temp table h2 as select open_handoff('f0000000-0000-4000-8000-000000000003', pg_temp.inside()) as res;
select is(toggle_ponte_externa('off') ->> 'enabled', 'false', 'toggle_ponte_externa off is the kill switch');
select is(confirm_handoff((select (res ->> 'handoff_id')::uuid from h2), '203.0.113.23') - 'handoff_id',
          '{"confirmed": false, "reason": "handoff_disabled"}'::jsonb, 'with the handoff off a pending handoff cannot be confirmed');
select throws_ok(format('select open_handoff(%L, %L)', 'f0000000-0000-4000-8000-000000000004', pg_temp.inside()),
                 'PC027', null, 'with the handoff off no handoff can be opened');
select is(toggle_ponte_externa('status') ->> 'canary_pct', '10', 'off keeps the percentage');
select is(toggle_ponte_externa('on') - 'phase', '{"enabled": true, "canary_pct": 100}'::jsonb, 'on without a percentage is 100%');
select is(is_enabled('external_handoff', pg_temp.outside()), true, 'at 100% every client is in');

------------------------------------------------------------------------------------------
-- close_handoff frees the vaga
create temp table closed as
select close_handoff((select (res ->> 'handoff_id')::uuid from h1), 'medico contratado') as res;
select is((select res ->> 'status' from closed), 'closed', 'close_handoff closes a confirmed handoff');
select is((select res ->> 'close_reason' from closed), 'medico contratado', 'the reason is kept on the handoff');
select is((select event_props ->> 'outcome' from business_events where event_type = 'handoff_closed'
           and event_props ->> 'handoff_id' = (select res ->> 'handoff_id' from h1)), 'done',
          'handoff_closed records the outcome done for a confirmed handoff');
select is(close_handoff((select (res ->> 'handoff_id')::uuid from h1), 'de novo') ->> 'changed', 'false',
          'closing a closed handoff changes nothing');
select is(confirm_handoff((select (res ->> 'handoff_id')::uuid from h1), '203.0.113.24') ->> 'reason', 'closed',
          'a closed handoff cannot be confirmed');
select is(open_handoff('f0000000-0000-4000-8000-000000000001', pg_temp.outside()) ->> 'status', 'pending',
          'after closing, the vaga can have a new handoff');
select is(close_handoff((select (res ->> 'handoff_id')::uuid from h2), 'divulgador sem resposta') ->> 'changed', 'true',
          'a pending handoff can be closed');
select is((select event_props ->> 'outcome' from business_events where event_type = 'handoff_closed'
           and event_props ->> 'handoff_id' = (select res ->> 'handoff_id' from h2)), 'cancelled',
          'handoff_closed records the outcome cancelled for a pending handoff');

------------------------------------------------------------------------------------------
-- Bad input: a clear error, nothing changed
create temp table before_bad as
select (select value from feature_flags where flag_key = 'external_handoff') as flag,
       (select count(*) from feature_flag_audit) as audits, (select count(*) from external_handoffs) as handoffs;
select throws_ok($$ select toggle_ponte_externa('on', 101) $$, 'PC024', 'toggle_ponte_externa on: pct must be from 0 to 100, got 101',
                 'a percentage over 100 raises PC024');
select throws_ok($$ select toggle_ponte_externa('on', -1) $$, 'PC024', null, 'a negative percentage raises PC024');
select throws_ok($$ select toggle_ponte_externa('off', 10) $$, 'PC024', null, 'a percentage with off raises PC024');
select throws_ok($$ select toggle_ponte_externa('liga') $$, 'PC024', null, 'an unknown acao raises PC024');
select throws_ok($$ select toggle_ponte_externa(null) $$, 'PC024', null, 'a NULL acao raises PC024');
select throws_ok($$ select open_handoff(null, 'a0000000-0000-4000-8000-000000000001') $$, 'PC003', null, 'open_handoff without a vaga raises PC003');
select throws_ok($$ select open_handoff('f0000000-0000-4000-8000-000000000009', null) $$, 'PC003', null, 'open_handoff without a client raises PC003');
select throws_ok($$ select confirm_handoff(null, '203.0.113.30') $$, 'PC003', null, 'confirm_handoff without an id raises PC003');
select throws_ok($$ select confirm_handoff('f0000000-0000-4000-8000-000000000009', 'localhost') $$, 'PC028', null,
                 'confirm_handoff with a malformed IP raises PC028');
select throws_ok($$ select close_handoff('f0000000-0000-4000-8000-0000000000fe', 'x') $$, 'PC026', null, 'closing an unknown handoff raises PC026');
select throws_ok(format('select close_handoff(%L, %L)', (select res ->> 'handoff_id' from h2), ' '), 'PC003', null,
                 'closing without a reason raises PC003');
select is((select row(flag, audits, handoffs)::text from before_bad),
          (select row((select value from feature_flags where flag_key = 'external_handoff'), (select count(*) from feature_flag_audit),
                      (select count(*) from external_handoffs))::text),
          'bad input changed no flag, no audit row and no handoff');

------------------------------------------------------------------------------------------
-- Security
set local role service_role;
select ok(set_config('request.jwt.claims', '{"role": "service_role", "sub": "slack:U0HAND"}', true) is not null,
          'test setup: JWT claims for the handoff calls');
select is(toggle_ponte_externa(acao => 'on', pct => 50) ->> 'canary_pct', '50', 'service_role calls toggle_ponte_externa with named arguments');
select is(open_handoff(vaga_id => 'f0000000-0000-4000-8000-000000000005', cliente_id => pg_temp.inside()) ->> 'opened_by', 'slack:U0HAND',
          'open_handoff through PostgREST records the JWT subject');
reset role;
set local role anon;
select throws_ok($$ select confirm_handoff(handoff_id => 'f0000000-0000-4000-8000-000000000001', ip => '203.0.113.1') $$,
                 '42501', null, 'anon cannot call confirm_handoff');
reset role;
set local role authenticated;
select throws_ok($$ select toggle_ponte_externa(acao => 'off') $$, '42501', null, 'authenticated cannot toggle the external handoff');
reset role;

select * from finish();
rollback;
