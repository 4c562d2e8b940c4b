-- rate_limit_hit and cleanup_rate_limits: windows, the keyed hash, normalisation, bad input,
-- and who may read what. Concurrency (16 callers): tests/py/test_rate_limits_concurrency.py;
-- REPEATABLE READ refusal and the HMAC against Python's hmac: tests/py/test_rate_limits.py.
begin;
select plan(38);

create function pg_temp.hits(subject text) returns bigint language sql stable as
    $$ select count(*) from rate_limit_hits where key_hash = pgcanary_private.keyed_hash(subject) $$;

------------------------------------------------------------------------------------------
-- Rules as the seed states them
select results_eq($$ select scope, window_size, max_hits from rate_limit_rules order by scope, window_size $$,
                  $$ values ('handoff_confirm_ip', interval '1 minute', 30), ('handoff_confirm_ip', interval '1 hour', 200),
                            ('phone', interval '1 hour', 20), ('phone', interval '1 day', 100) $$,
                  'the seeded rules are 20/hour and 100/day per phone, 30/minute and 200/hour per IP');

------------------------------------------------------------------------------------------
-- The per-IP limit of the handoff confirm endpoint
create temp table ip_burst as
select n, rate_limit_hit('handoff_confirm_ip', '203.0.113.7') as res from generate_series(1, 32) n;
select is((select count(*) from ip_burst where (res ->> 'allowed')::boolean), 30::bigint, '30 hits a minute from one IP are allowed');
select is((select array_agg(n order by n) from ip_burst where not (res ->> 'allowed')::boolean), array[31, 32],
          'the 31st hit in the minute is refused');
select is((select res -> 'exceeded' from ip_burst where n = 31), '[{"window_size": "00:01:00", "max_hits": 30}]'::jsonb,
          'a refusal names the window it exceeded');
select cmp_ok((select (res ->> 'retry_after_seconds')::numeric from ip_burst where n = 31), '<=', 60::numeric,
              'a refusal says when to retry, within the minute');
select is((select res -> 'windows' from ip_burst where n = 30),
          '[{"window_size": "00:01:00", "max_hits": 30, "hits": 30}, {"window_size": "01:00:00", "max_hits": 200, "hits": 30}]'::jsonb,
          'the answer lists every window with its count');
select is(pg_temp.hits('handoff_confirm_ip:203.0.113.7'), 30::bigint, 'refused hits are not recorded');
select is(rate_limit_hit('handoff_confirm_ip', '203.0.113.8') ->> 'allowed', 'true', 'another IP has its own limit');
select is(rate_limit_hit('handoff_confirm_ip', '2001:DB8:0::1') ->> 'allowed', 'true', 'an IPv6 address is accepted');
select is(pg_temp.hits('handoff_confirm_ip:2001:db8::1'), 1::bigint, 'IPv6 addresses are counted in their canonical form');

-- The hour window: 200 hits spread over the last hour but none in the last minute.
insert into rate_limit_hits (scope, key_hash, hit_at)
select 'handoff_confirm_ip', pgcanary_private.keyed_hash('handoff_confirm_ip:198.51.100.1'), clock_timestamp() - interval '2 minutes' - n * interval '15 seconds'
from generate_series(0, 199) n;
select is(rate_limit_hit('handoff_confirm_ip', '198.51.100.1') -> 'exceeded', '[{"window_size": "01:00:00", "max_hits": 200}]'::jsonb,
          'the 201st hit within an hour is refused although the last minute is empty');

------------------------------------------------------------------------------------------
-- Phones: the same windows check_outbound_guardrails uses
select is((select count(*) filter (where (rate_limit_hit('phone', '+55 11 98888-0000') ->> 'allowed')::boolean) from generate_series(1, 21)),
          20::bigint, 'rate_limit_hit on a phone admits 20 an hour');
select is(pg_temp.hits('phone:5511988880000'), 20::bigint, 'the phone''s hits are stored under its normalised digits');
select is(check_outbound_guardrails('b0000000-0000-4000-8000-000000000001', '5511988880000', 'followup') ->> 'block_reason', 'rate_limited',
          'rate_limit_hit and check_outbound_guardrails share the phone''s counter');

------------------------------------------------------------------------------------------
-- No raw phone or IP is stored: a keyed hash (HMAC-SHA256), key in an owner-only table
select is((select count(*) from pgcanary_private.hash_keys where key_name = 'rate_limit' and length(secret) = 32), 1::bigint,
          'the migration generated a 32-byte key');
select is(pgcanary_private.keyed_hash('phone:5511988880000'),
          (select sha256(outer_pad || sha256(inner_pad || convert_to('phone:5511988880000', 'UTF8'))) from pgcanary_private.hash_keys),
          'keyed_hash is HMAC-SHA256 with the stored pads');
select isnt(pgcanary_private.keyed_hash('phone:5511988880000'), sha256(convert_to('phone:5511988880000', 'UTF8')),
            'the hash is keyed: it is not a plain sha256 anyone could recompute');
select is((select count(*) from rate_limit_hits where position(convert_to('5511988880000', 'UTF8') in key_hash) > 0
                                                or position(convert_to('203.0.113.7', 'UTF8') in key_hash) > 0), 0::bigint,
          'no stored hash contains the raw phone or IP');
select is(array(select column_name::text from information_schema.columns
                where table_schema = 'public' and table_name = 'rate_limit_hits' order by ordinal_position),
          array['scope', 'key_hash', 'hit_at'], 'rate_limit_hits has no column for a phone or an IP');

------------------------------------------------------------------------------------------
-- Cleanup: hits older than the longest window of their scope go (a first run clears what
-- earlier sessions may have left, so the count below is this file's own)
create temp table first_cleanup as select cleanup_rate_limits() as n;
insert into rate_limit_hits (scope, key_hash, hit_at) values
    ('phone', pgcanary_private.keyed_hash('phone:5511977770000'), clock_timestamp() - interval '25 hours'),
    ('phone', pgcanary_private.keyed_hash('phone:5511977770000'), clock_timestamp() - interval '23 hours'),
    ('handoff_confirm_ip', pgcanary_private.keyed_hash('handoff_confirm_ip:192.0.2.1'), clock_timestamp() - interval '61 minutes'),
    ('handoff_confirm_ip', pgcanary_private.keyed_hash('handoff_confirm_ip:192.0.2.1'), clock_timestamp() - interval '59 minutes'),
    ('gone_scope', pgcanary_private.keyed_hash('gone_scope:x'), clock_timestamp());
create temp table before_cleanup as select count(*) as n from rate_limit_hits;
select is(cleanup_rate_limits(), 3::bigint, 'cleanup_rate_limits deletes the expired hits and those of scopes without rules');
select is((select count(*) from rate_limit_hits), (select n - 3 from before_cleanup), 'cleanup deleted nothing else');
select is(pg_temp.hits('phone:5511977770000'), 1::bigint, 'a phone hit 23 hours old is kept for the day window');
select is(pg_temp.hits('handoff_confirm_ip:192.0.2.1'), 1::bigint, 'an IP hit 59 minutes old is kept for the hour window');

------------------------------------------------------------------------------------------
-- Bad input: a clear error, nothing recorded
create temp table before_bad as select count(*) as n from rate_limit_hits;
select throws_ok($$ select rate_limit_hit('sms', '5511900000000') $$, 'PC028', 'unknown rate-limit scope: "sms"',
                 'an unknown scope raises PC028 naming it');
select throws_ok($$ select rate_limit_hit(null, '5511900000000') $$, 'PC028', null, 'a NULL scope raises PC028');
select throws_ok($$ select rate_limit_hit('handoff_confirm_ip', 'not-an-ip') $$, 'PC028', null, 'a malformed IP raises PC028');
select throws_ok($$ select rate_limit_hit('handoff_confirm_ip', '10.0.0.0/8') $$, 'PC028', null, 'a network instead of an address raises PC028');
select throws_ok($$ select rate_limit_hit('handoff_confirm_ip', null) $$, 'PC028', null, 'a NULL IP raises PC028');
select throws_ok($$ select rate_limit_hit('phone', '55 11 9abc') $$, 'PC020', null, 'a malformed phone raises PC020');
select throws_ok($$ select rate_limit_hit('phone', null) $$, 'PC020', null, 'a NULL phone raises PC020');
select is((select count(*) from rate_limit_hits), (select n from before_bad), 'bad input recorded no hit');

------------------------------------------------------------------------------------------
-- Who may read what
select is(has_table_privilege('service_role', 'pgcanary_private.hash_keys', 'SELECT'), false, 'service_role cannot read the hash key');
set local role service_role;
select ok(set_config('request.jwt.claims', '{"role": "service_role", "sub": "worker"}', true) is not null, 'test setup: JWT claims for service_role');
select is(rate_limit_hit(scope => 'handoff_confirm_ip', subject => '192.0.2.55') ->> 'allowed', 'true',
          'service_role calls rate_limit_hit with named arguments');
select throws_ok($$ select secret from pgcanary_private.hash_keys $$, '42501', null, 'service_role gets permission denied on the hash key');
select lives_ok($$ select cleanup_rate_limits() $$, 'service_role can run the cleanup');
reset role;
set local role anon;
select throws_ok($$ select rate_limit_hit(scope => 'phone', subject => '5511900000000') $$, '42501', null, 'anon cannot call rate_limit_hit');
reset role;
set local role authenticated;
select throws_ok($$ select cleanup_rate_limits() $$, '42501', null, 'authenticated cannot call cleanup_rate_limits');
reset role;

select * from finish();
rollback;
