-- Circuit breaker: every transition, the single half-open probe, a lost probe, bad input,
-- the guardrail's circuit_open check, the RPC contract as PostgREST calls it.
-- Concurrency (one probe among parallel callers): tests/py/test_circuit_concurrency.py.
-- Time passes by moving open_until / probe_started_at back (now() is fixed in a transaction).
begin;
select plan(45);

-- A known starting state for the guardrail part.
update feature_flags set value = 'false' where flag_key = 'pausar_julia';
update feature_flags set value = '{"enabled": true}' where flag_key = 'campaigns';
delete from circuit_breakers where name in ('t', 'whatsapp', 'cfg');

------------------------------------------------------------------------------------------
-- Shape
select has_table('public', 'circuit_breakers', 'circuit_breakers exists');
select has_function('public', 'circuit_allow', array['text'], 'circuit_allow(name) exists');
select has_function('public', 'circuit_record', array['text', 'boolean'], 'circuit_record(name, success) exists');
select volatility_is('public', 'circuit_status', array['text'], 'stable', 'circuit_status is STABLE (never takes the probe)');

------------------------------------------------------------------------------------------
-- Closed
select ok(circuit_allow('t'), 'a breaker without a row is closed and allows');
select is((select count(*) from circuit_breakers where name = 't'), 0::bigint, 'allowing on a closed breaker writes nothing');
select is(circuit_record('t', false), 'closed', 'one failure keeps it closed');
select is(circuit_record('t', true), 'closed', 'a success keeps it closed');
select is((select consecutive_failures from circuit_breakers where name = 't'), 0, 'a success resets the consecutive failures');
select is(array(select circuit_record('t', false) from generate_series(1, 4)), array['closed', 'closed', 'closed', 'closed'],
          'four consecutive failures keep it closed');
select ok(circuit_allow('t'), 'still allows after four failures');

------------------------------------------------------------------------------------------
-- Open
select is(circuit_record('t', false), 'open', 'the fifth consecutive failure opens it');
select is((select open_until - updated_at from circuit_breakers where name = 't'), interval '60 seconds',
          'it opens for 60 seconds');
select ok(not circuit_allow('t'), 'an open breaker refuses');
select is((circuit_status('t') ->> 'cooling_down')::boolean, true, 'circuit_status says it is cooling down');
select is(circuit_record('t', true), 'open', 'a late success while open does not close it');
select is(circuit_record('t', false), 'open', 'a late failure while open keeps it open');
select is((select times_opened from circuit_breakers where name = 't'), 1::bigint, 'a failure while open does not count as a new opening');

------------------------------------------------------------------------------------------
-- Half-open: one probe
update circuit_breakers set open_until = now() - interval '1 second' where name = 't';
select is(circuit_status('t') ->> 'state', 'open', 'circuit_status does not take the probe');
select ok(circuit_allow('t'), 'after 60 seconds the first caller is the probe');
select is((select state from circuit_breakers where name = 't'), 'half_open', 'the breaker is half-open while the probe runs');
select ok(not circuit_allow('t'), 'a second caller is refused while the probe runs');
select ok(not circuit_allow('t'), 'and a third');
select is(circuit_record('t', false), 'open', 'a failed probe re-opens it');
select is((select times_opened from circuit_breakers where name = 't'), 2::bigint, 'the re-opening is counted');
select ok(not circuit_allow('t'), 'refuses again after the failed probe');

update circuit_breakers set open_until = now() - interval '1 second' where name = 't';
select ok(circuit_allow('t'), 'a new probe after the next 60 seconds');
select is(circuit_record('t', true), 'closed', 'a successful probe closes it');
select ok(circuit_allow('t') and circuit_allow('t'), 'closed again: everyone is allowed');
select is((select consecutive_failures from circuit_breakers where name = 't'), 0, 'closing forgets the failures');

-- A probe whose worker died: replaced after open_seconds, so the breaker cannot stay half-open.
select circuit_record('t', false) from generate_series(1, 5);
update circuit_breakers set open_until = now() - interval '1 second' where name = 't';
select ok(circuit_allow('t'), 'probe taken by a worker that then dies');
update circuit_breakers set probe_started_at = now() - interval '61 seconds' where name = 't';
select ok(circuit_allow('t'), 'a probe silent for open_seconds is replaced by the next caller');
select ok(not circuit_allow('t'), 'and only by one caller');

------------------------------------------------------------------------------------------
-- Configuration and bad input (nothing changes)
select is(circuit_configure('cfg', 2, 5) ->> 'failure_threshold', '2', 'circuit_configure sets the threshold');
select is(array(select circuit_record('cfg', false) from generate_series(1, 2)), array['closed', 'open'],
          'a configured threshold of 2 opens on the second failure');
create temp table before_bad as select * from circuit_breakers;
select throws_ok($$ select circuit_allow('') $$, 'PC033', null, 'an empty name is refused');
select throws_ok($$ select circuit_record(null, false) $$, 'PC033', null, 'a null name is refused by circuit_record');
select throws_ok($$ select circuit_record('t', null) $$, 'PC033', null, 'a null success is refused');
select throws_ok($$ select circuit_configure('cfg', 0, 60) $$, 'PC033', null, 'a threshold of 0 is refused');
select throws_ok($$ select circuit_configure('cfg', 5, 0) $$, 'PC033', null, 'open_seconds of 0 is refused');
select is((select count(*) from (select * from circuit_breakers except select * from before_bad) d), 0::bigint,
          'bad input changed no breaker');

------------------------------------------------------------------------------------------
-- The guardrail's check 7 reads the breaker named after the channel.
select circuit_record('whatsapp', false) from generate_series(1, 5);
select is(check_outbound_guardrails(cliente_id => 'b0000000-0000-4000-8000-000000000001', telefone => '5511988887777',
                                    method => 'followup') ->> 'block_reason',
          'circuit_open', 'check_outbound_guardrails blocks with circuit_open while the whatsapp breaker is open');

------------------------------------------------------------------------------------------
-- As PostgREST calls it
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role", "sub": "worker"}', true);
select ok(circuit_allow(name => 'sec'), 'service_role calls circuit_allow with named arguments');
reset role;
set local role anon;
select throws_ok($$ select circuit_allow(name => 'sec') $$, '42501', null, 'anon cannot call circuit_allow');
reset role;
set local role authenticated;
select throws_ok($$ select circuit_record(name => 'sec', success => false) $$, '42501', null, 'authenticated cannot call circuit_record');
reset role;

select * from finish();
rollback;
