-- Governance (functions/governance.sql): the seeded plans and prerequisites, rollout_gate's
-- verdict and every NO-GO reason, advance (GO, refused, forced), rollback, the step history
-- on every path, prerequisites and incidents with their bad inputs, and the RPC contract as
-- PostgREST calls it. Time windows are simulated by backdating rows inside this transaction
-- (now() is fixed for the whole transaction).
begin;
select plan(133);

-- Helpers (temporary, dropped with the transaction).
-- Everything a governance call may change: "nothing changed" compares two of these.
create function pg_temp.state() returns text language sql as $$
    select (select string_agg(f.flag_key || '=' || f.value::text, ',' order by f.flag_key) from public.feature_flags f)
           || ' | history: ' || (select count(*) from public.rollout_history)
           || ' | audit: ' || (select count(*) from public.feature_flag_audit)
           || ' | prerequisites: ' || (select string_agg(q.code || ':' || coalesce(q.status, '-') || ':' || coalesce(q.evidence, ''), ',' order by q.flag_key, q.code) from public.rollout_prerequisites q)
           || ' | incidents: ' || (select count(*) || '/' || count(resolved_at) from public.incidents) $$;
-- Moves a flag's whole step history (and so its current step's start) back in time.
create function pg_temp.backdate(k text, by_ interval) returns void language sql as $$
    update public.rollout_history set started_at = started_at - by_ where flag_key = k $$;
create function pg_temp.verdict(k text) returns text language sql as $$ select public.rollout_gate(k) ->> 'verdict' $$;
-- The gate's line for one check and name, as 'status: message'.
create function pg_temp.line(k text, chk text, nm text) returns text language sql as $$
    select e ->> 'status' || ': ' || (e ->> 'message')
    from jsonb_array_elements(public.rollout_gate(k) -> 'reasons') e
    where e ->> 'check' = chk and e ->> 'name' = nm $$;
create function pg_temp.failing(k text) returns text[] language sql as $$
    select array(select e ->> 'check' || ':' || (e ->> 'name')
                 from jsonb_array_elements(public.rollout_gate(k) -> 'reasons') e
                 where e ->> 'status' = 'FAIL' order by 1) $$;
create function pg_temp.pct(k text) returns int language sql as $$
    select (value ->> 'percentage')::int from public.feature_flags where flag_key = k $$;
-- The message of the error a statement raises (the statement is rolled back).
create function pg_temp.error_of(cmd text) returns text language plpgsql as $$
declare msg text; hint text;
begin
    execute cmd;
    return '<no error>';
exception when others then
    get stacked diagnostics msg = message_text, hint = pg_exception_hint;
    return msg || ' // hint: ' || coalesce(nullif(hint, ''), '<none>');
end $$;
grant execute on all functions in schema pg_temp to public;

-- A known starting point whatever ran before in this database (all rolled back at the end):
-- no events (the gate reads SLOs from them), no opt-outs, no open incident.
delete from business_events;
delete from opt_outs;
delete from opt_out_audit;
update feature_flags set value = 'false' where flag_key = 'pausar_julia';
update feature_flags set value = 'true' where flag_key = 'business_events_enabled';
-- Each planned flag enters its step now (a change through 0% starts a new history row even
-- when the flag already was at that step), so the windows below count from this transaction.
update feature_flags set value = '{"enabled": true, "percentage": 0, "force_on": []}' where flag_key in ('business_events_canary', 'guardrails_canary');
update feature_flags set value = '{"enabled": true, "percentage": 2, "force_on": []}' where flag_key = 'business_events_canary';
update feature_flags set value = '{"enabled": true, "percentage": 10, "force_on": []}' where flag_key = 'guardrails_canary';
update incidents set resolved_at = now() - interval '30 days', resolved_by = 'test', resolution = 'test setup',
                     opened_at = least(opened_at, now() - interval '31 days') where resolved_at is null;
update incidents set opened_at = now() - interval '31 days', resolved_at = now() - interval '30 days';
update rollout_prerequisites set status = 'pending', evidence = null where verified_by = 'operator';

------------------------------------------------------------------------------------------
-- The seeded plans (seed 000 Story 8.4; seed 002 phases A-D).
select results_eq($$ select name, percentage, min_stable from rollout_steps where flag_key = 'business_events_canary' order by percentage $$,
    $$ values ('Fase 1', 2, '2 days'::interval), ('Fase 2', 10, '3 days'), ('Fase 3', 50, '2 days'), ('Fase 4', 100, '0') $$,
    'business_events_canary plan: 2% for 2 days, 10% for 3 days, 50% for 2 days, then 100%');
select results_eq($$ select name, percentage, min_stable from rollout_steps where flag_key = 'guardrails_canary' order by percentage $$,
    $$ values ('A', 10, '24 hours'::interval), ('B', 25, '48 hours'), ('C', 50, '7 days'), ('D', 100, '0') $$,
    'guardrail canary plan: A 10% (24 h before B), B 25% (48 h before C), C 50% (7 days before D), D 100%');
select results_eq($$ select code, step, verified_by from rollout_prerequisites where flag_key = 'guardrails_canary' order by code $$,
    $$ values ('B1', 'B', 'operator'), ('B2', 'B', 'operator'), ('C1', 'C', 'operator'), ('D1', 'D', 'operator'), ('D2', 'D', 'operator'), ('D3', 'D', 'gate') $$,
    'the seed''s prerequisites B1, B2, C1, D1, D2, D3 are rows; D3 is verified by the gate');
select is((select value from feature_flags where flag_key = 'guardrails_canary') ->> 'percentage', '10',
    'the guardrail canary flag guardrails_canary exists (phase A, 10%)');
select is((select guard_slos from rollout_plans where flag_key = 'guardrails_canary'), '{outbound_to_opted_out}'::text[],
    'the guard rolls the guardrail canary back on outbound_to_opted_out');

------------------------------------------------------------------------------------------
-- The gate: GO, and each NO-GO reason.
-- Fresh step: the window is not elapsed.
select is(pg_temp.verdict('business_events_canary'), 'NO-GO', 'gate: NO-GO right after entering a step');
select is(pg_temp.failing('business_events_canary'), '{window:Fase 1}', 'gate: the only cause is the window of Fase 1');
select matches(pg_temp.line('business_events_canary', 'window', 'Fase 1'), '^FAIL: 0\.0 h at step Fase 1 \(2%\) since .*; 48\.0 h required$',
    'gate: the window line says the time spent and the time required');
select is(public.rollout_gate('business_events_canary') -> 'next', '{"step": "Fase 2", "percentage": 10}',
    'gate: the next step is Fase 2 at 10%');
select pg_temp.backdate('business_events_canary', '47 hours');
select is(pg_temp.verdict('business_events_canary'), 'NO-GO', 'gate: still NO-GO one hour before the window ends');
select pg_temp.backdate('business_events_canary', '1 hour');
select is(pg_temp.verdict('business_events_canary'), 'GO', 'gate: GO once 2 days are spent at 2%');
select is(public.rollout_gate('business_events_canary') -> 'blocking', '[]', 'gate: a GO has nothing blocking');
select matches(pg_temp.line('business_events_canary', 'window', 'Fase 1'), '^OK: 48\.0 h at step Fase 1', 'gate: the window line is OK');
select is((public.rollout_gate('business_events_canary') #>> '{period,since}')::timestamptz, now() - interval '2 days',
    'gate: the stability period is the step''s window');

-- Master switch (seed 8.4's emergency rollback).
update feature_flags set value = 'false' where flag_key = 'business_events_enabled';
select is(pg_temp.failing('business_events_canary'), '{plan:business_events_enabled}', 'gate: NO-GO while the master switch business_events_enabled is off');
update feature_flags set value = 'true' where flag_key = 'business_events_enabled';

-- Kill switch: the flag itself is off; resuming restarts the window.
select kill_flag('business_events_canary', 'test kill');
select is(pg_temp.failing('business_events_canary'), '{plan:enabled,window:Fase 1}', 'gate: NO-GO while the flag is killed');
select matches(pg_temp.line('business_events_canary', 'plan', 'enabled'), 'disabled', 'gate: the kill switch line says the flag is disabled');
select resume_flag('business_events_canary', 'test resume');
select is(pg_temp.failing('business_events_canary'), '{window:Fase 1}', 'gate: after resume_flag the window starts again');
select pg_temp.backdate('business_events_canary', '2 days');

-- Incidents: an open P0/P1 of the flag or global blocks; P2, and other flags' incidents, do not.
insert into incidents (severity, title, flag_key, opened_by) values ('P2', 'slow report', null, 'test');
insert into incidents (severity, title, flag_key, opened_by) values ('P1', 'handoff stuck', 'guardrails_canary', 'test');
select is(pg_temp.verdict('business_events_canary'), 'GO', 'gate: a P2, or a P1 of another flag, does not block');
select open_incident('P1', 'events missing for an hour', 'business_events_canary', '{}');
select is(pg_temp.failing('business_events_canary'), array['incident:#' || (select max(incident_id) from incidents)],
    'gate: an open P1 of the flag blocks');
select matches(pg_temp.line('business_events_canary', 'incident', '#' || (select max(incident_id) from incidents)),
    '^FAIL: P1 incident #[0-9]+ open since .*: events missing for an hour$', 'gate: the incident line names severity, id and title');
select resolve_incident((select max(incident_id) from incidents), 'emitter fixed');
select is(pg_temp.verdict('business_events_canary'), 'NO-GO', 'gate: a resolved P1 still blocks inside the stability period');
update incidents set opened_at = now() - interval '3 days', resolved_at = now() - interval '50 hours'
 where incident_id = (select max(incident_id) from incidents);
select is(pg_temp.verdict('business_events_canary'), 'GO', 'gate: a P1 resolved before the stability period no longer blocks');
select open_incident('P0', 'opted-out client messaged', null, '{"slo": "outbound_to_opted_out"}');
select is(pg_temp.verdict('business_events_canary'), 'NO-GO', 'gate: a global P0 blocks every plan');
select is(pg_temp.verdict('guardrails_canary'), 'NO-GO', 'gate: the global P0 blocks the guardrail canary too');
select resolve_incident((select max(incident_id) from incidents), 'test over');
update incidents set opened_at = now() - interval '31 days', resolved_at = now() - interval '30 days' where resolved_at is not null;
update incidents set resolved_at = now() - interval '30 days', resolved_by = 'test', resolution = 'test over',
                     opened_at = now() - interval '31 days' where resolved_at is null;

-- Prerequisites: B1 and B2 gate phase B.
select pg_temp.backdate('guardrails_canary', '24 hours');
select is(pg_temp.failing('guardrails_canary'), '{prerequisite:B1,prerequisite:B2}', 'gate: A -> B blocked by the pending B1 and B2 only');
select is(pg_temp.line('guardrails_canary', 'prerequisite', 'B1'), 'FAIL: B1 (step B) pending: Toggle campanhas via Slack (toggle_campanhas on/off/status)',
    'gate: a prerequisite line names code, step, status and description');
select set_prerequisite('guardrails_canary', 'B1', 'met', 'toggle_campanhas tested: tests/sql/guardrails.test.sql');
select is(pg_temp.failing('guardrails_canary'), '{prerequisite:B2}', 'gate: a met prerequisite passes');
select set_prerequisite('guardrails_canary', 'B2', 'failed', 'retries not wired to the circuit breaker yet');
select is(pg_temp.failing('guardrails_canary'), '{prerequisite:B2}', 'gate: a failed prerequisite blocks');
select set_prerequisite('guardrails_canary', 'B2', 'met', 'worker retries 429/503 with backoff: tests/py/test_outbox_worker.py');
select is(pg_temp.verdict('guardrails_canary'), 'GO', 'gate: A -> B is GO with B1, B2 met and 24 h stable');
select is((public.rollout_gate('guardrails_canary') -> 'reasons' -> -1 ->> 'evidence'),
    'worker retries 429/503 with backoff: tests/py/test_outbox_worker.py', 'gate: a prerequisite line carries its evidence');

------------------------------------------------------------------------------------------
-- advance_rollout: GO advances; the change is audited and starts the next window.
select is(advance_rollout('guardrails_canary', 'B1, B2 met, 24 h stable') - 'status',
    '{"flag_key": "guardrails_canary", "from_percentage": 10, "to_percentage": 25, "step": "B", "verdict": "GO", "forced": false, "blocking": []}',
    'advance: GO moves A (10%) to B (25%)');
select is(pg_temp.pct('guardrails_canary'), 25, 'advance: the flag is at 25%');
select is((select reason from feature_flag_audit where flag_key = 'guardrails_canary' order by audit_id desc limit 1),
    'B1, B2 met, 24 h stable', 'advance: feature_flag_audit records the change with its reason');
select results_eq($$ select percentage, step, action, forced, gate ->> 'verdict', reason from rollout_history
                     where flag_key = 'guardrails_canary' order by entry_id desc limit 1 $$,
    $$ values (25, 'B', 'advance', false, 'GO', 'B1, B2 met, 24 h stable') $$,
    'advance: rollout_history records the step, the action and the gate''s verdict');
select is(pg_temp.failing('guardrails_canary'), '{prerequisite:C1,window:B}', 'gate: at B the 48 h window and C1 block C');

-- A NO-GO is refused with the reasons in the message, and nothing changes.
select pg_temp.state() as before \gset
select throws_ok($$ select advance_rollout('guardrails_canary', 'try C early') $$, 'PC040', null,
    'advance: a NO-GO is refused with PC040');
select is(pg_temp.error_of($$ select advance_rollout('guardrails_canary', 'try C early') $$),
    'advance of "guardrails_canary" to step C (50%) refused, NO-GO: 0.0 h at step B (25%) since '
    || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"') || '; 48.0 h required; C1 (step C) pending: Dedupe via outbox interno (outbound_messages)'
    || ' // hint: Fix the causes, or force it with a reason (audited): select advance_rollout(flag_key => ''...'', reason => ''...'', force => true);',
    'advance: the refusal lists every blocking reason and says how to force');
select is(pg_temp.state(), :'before', 'advance: nothing changed after a refused NO-GO');
select throws_ok($$ select advance_rollout('guardrails_canary', '  ', true) $$, 'PC003', null,
    'advance: forcing without a reason is refused (PC003)');
select throws_ok($$ select advance_rollout('guardrails_canary', null, true) $$, 'PC003', null,
    'advance: a null reason is refused (PC003)');
select is(pg_temp.state(), :'before', 'advance: nothing changed after a forced advance without a reason');
select throws_ok($$ select advance_rollout('no_such_flag', 'x') $$, 'PC041', 'flag "no_such_flag" has no rollout plan',
    'advance: a flag without a plan is PC041');
select throws_ok($$ select rollout_gate('business_events_enabled') $$, 'PC041', null, 'gate: a flag without a plan is PC041');

-- Forced past a NO-GO: it moves, and the force is on record.
select is(advance_rollout('guardrails_canary', 'incident drill needs 50%', true) ->> 'forced', 'true', 'advance: force => true moves past a NO-GO');
select is(pg_temp.pct('guardrails_canary'), 50, 'advance: forced to C (50%)');
select results_eq($$ select action, forced, gate ->> 'verdict', reason, jsonb_array_length(gate -> 'blocking') from rollout_history
                     where flag_key = 'guardrails_canary' order by entry_id desc limit 1 $$,
    $$ values ('advance', true, 'NO-GO', 'FORCED past NO-GO: incident drill needs 50%', 2) $$,
    'advance: the forced step is recorded with the NO-GO it overrode');
select is((select reason from feature_flag_audit where flag_key = 'guardrails_canary' order by audit_id desc limit 1),
    'FORCED past NO-GO: incident drill needs 50%', 'advance: feature_flag_audit marks the forced change');
select is(current_setting('pgcanary.rollout_action', true), '', 'advance: the history labels are cleared after the change');

-- D needs every earlier prerequisite, D1, D2, and D3 (the gate's own stability verdict).
select set_prerequisite('guardrails_canary', 'C1', 'met', 'outbox dedupe: tests/sql/outbox.test.sql');
select is(pg_temp.failing('guardrails_canary'), '{prerequisite:D1,prerequisite:D2,prerequisite:D3,window:C}', 'gate: C -> D needs D1, D2, D3 and 7 days');
select matches(pg_temp.line('guardrails_canary', 'prerequisite', 'D3'), '^FAIL: D3 \(step D\).*not yet', 'gate: D3 fails while the 7-day window runs');
select set_prerequisite('guardrails_canary', 'B1', 'pending', 'regressed: Slack tool removed');
select is(pg_temp.failing('guardrails_canary'), '{prerequisite:B1,prerequisite:D1,prerequisite:D2,prerequisite:D3,window:C}',
    'gate: an earlier step''s prerequisite that regressed blocks later steps');
select set_prerequisite('guardrails_canary', 'B1', 'met', 'restored');
select set_prerequisite('guardrails_canary', 'D1', 'met', 'outbox in production since 2025-01-10');
select set_prerequisite('guardrails_canary', 'D2', 'met', 'pgcanary drill output attached');
select pg_temp.backdate('guardrails_canary', '7 days');
select is(pg_temp.line('guardrails_canary', 'prerequisite', 'D3'), 'OK: D3 (step D): 7 dias estáveis em 50%: verificado pelo rollout_gate (janela, SLOs e incidentes) — window, SLOs and incidents OK',
    'gate: D3 is met once the window, SLO and incident lines are OK');
select is(pg_temp.verdict('guardrails_canary'), 'GO', 'gate: C -> D is GO');
select is(advance_rollout('guardrails_canary', 'D criteria met') ->> 'to_percentage', '100', 'advance: C -> D goes to 100%');
select is(pg_temp.failing('guardrails_canary'), '{plan:next_step}', 'gate: at the last step the only NO-GO is that there is no next step');
select is(public.rollout_gate('guardrails_canary') -> 'next', 'null', 'gate: no next step at 100%');
select pg_temp.state() as before \gset
select throws_ok($$ select advance_rollout('guardrails_canary', 'beyond', true) $$, 'PC042', null,
    'advance: even forced, nothing lies beyond the last step (PC042)');
select is(pg_temp.state(), :'before', 'advance: nothing changed at the last step');

------------------------------------------------------------------------------------------
-- rollback_rollout: one call, lower only, audited, the window restarts.
select is(rollback_rollout('guardrails_canary', 10, 'drill: rollback to A') - 'status',
    '{"flag_key": "guardrails_canary", "from_percentage": 100, "to_percentage": 10}', 'rollback: 100% -> 10% in one call');
select results_eq($$ select percentage, step, action, reason from rollout_history where flag_key = 'guardrails_canary' order by entry_id desc limit 1 $$,
    $$ values (10, 'A', 'rollback', 'drill: rollback to A') $$, 'rollback: rollout_history records it');
select is((select reason from feature_flag_audit where flag_key = 'guardrails_canary' order by audit_id desc limit 1),
    'drill: rollback to A', 'rollback: feature_flag_audit records it with the reason');
select is(pg_temp.failing('guardrails_canary'), '{window:A}', 'rollback: the window of the lower step starts again');
select pg_temp.state() as before \gset
select throws_ok($$ select rollback_rollout('guardrails_canary', 10, 'same') $$, 'PC045',
    'rollback of "guardrails_canary" to 10% does not lower it: it is at 10%', 'rollback: the same percentage is refused (PC045)');
select throws_ok($$ select rollback_rollout('guardrails_canary', 50, 'up') $$, 'PC045', null, 'rollback: a higher percentage is refused (PC045)');
select throws_ok($$ select rollback_rollout('guardrails_canary', -5, 'neg') $$, 'PC003', null, 'rollback: a negative percentage is refused (PC003)');
select throws_ok($$ select rollback_rollout('guardrails_canary', null, 'null') $$, 'PC003', null, 'rollback: a null percentage is refused (PC003)');
select throws_ok($$ select rollback_rollout('guardrails_canary', 0, '') $$, 'PC003', null, 'rollback: an empty reason is refused (PC003)');
select throws_ok($$ select rollback_rollout('business_events_enabled', 0, 'x') $$, 'PC041', null, 'rollback: a flag without a plan is PC041');
select is(pg_temp.state(), :'before', 'rollback: nothing changed after the refused rollbacks');

------------------------------------------------------------------------------------------
-- The history sees every path: the seed's raw UPDATE (through the alias row), kill switch;
-- an allowlist change is not a step.
select lives_ok($$ UPDATE feature_flags SET value = '10' WHERE flag_key = 'business_events_rollout_pct' $$,
    'seed 8.4''s raw UPDATE runs verbatim');
select results_eq($$ select percentage, step, action from rollout_history where flag_key = 'business_events_canary' order by entry_id desc limit 1 $$,
    $$ values (10, 'Fase 2', 'change') $$, 'history: the seed''s raw UPDATE is recorded as a change to Fase 2');
select (select count(*) from rollout_history) as n \gset
select add_to_allowlist('0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', 'business_events_canary');
select is((select count(*) from rollout_history), :'n'::bigint, 'history: an allowlist change is not a new step');
select is(pg_temp.failing('business_events_canary'), '{window:Fase 2}', 'gate: a raw change restarts the window too');
update feature_flags set value = '{"enabled": true, "percentage": 30, "force_on": []}' where flag_key = 'business_events_canary';
select matches(pg_temp.line('business_events_canary', 'plan', 'off_plan'), '^OK: flag is at 30%, between steps Fase 2 \(10%\) and Fase 3 \(50%\)',
    'gate: a percentage between steps is held to the lower step''s window');

------------------------------------------------------------------------------------------
-- set_prerequisite: bad inputs change nothing.
select pg_temp.state() as before \gset
select throws_ok($$ select set_prerequisite('guardrails_canary', 'B1', 'done', 'x') $$, 'PC044',
    'prerequisite status must be pending, met or failed, got done', 'prerequisite: an unknown status is PC044');
select throws_ok($$ select set_prerequisite('guardrails_canary', 'C1', 'met', '  ') $$, 'PC044',
    'prerequisite "C1" of flag "guardrails_canary": status met needs evidence', 'prerequisite: met without evidence is PC044');
select throws_ok($$ select set_prerequisite('guardrails_canary', 'C1', 'failed', null) $$, 'PC044', null, 'prerequisite: failed without evidence is PC044');
select throws_ok($$ select set_prerequisite('guardrails_canary', 'D3', 'met', 'I say so') $$, 'PC044',
    'prerequisite "D3" of flag "guardrails_canary" is verified by rollout_gate, not set by hand', 'prerequisite: D3 cannot be set by hand');
select throws_ok($$ select set_prerequisite('guardrails_canary', 'Z9', 'met', 'x') $$, 'PC043',
    'prerequisite "Z9" of flag "guardrails_canary" does not exist', 'prerequisite: an unknown code is PC043');
select is(pg_temp.state(), :'before', 'prerequisite: nothing changed after the refused updates');
select is(set_prerequisite('guardrails_canary', 'C1', 'pending', null) ->> 'status', 'pending', 'prerequisite: back to pending needs no evidence');
select is((select set_by from rollout_prerequisites where code = 'C1'), current_user::text, 'prerequisite: records who set it');

------------------------------------------------------------------------------------------
-- Incidents: bad inputs change nothing.
select pg_temp.state() as before \gset
select throws_ok($$ select open_incident('P5', 'x') $$, 'PC047', 'incident severity must be P0, P1, P2 or P3, got P5', 'incident: an unknown severity is PC047');
select throws_ok($$ select open_incident('P1', ' ') $$, 'PC047', null, 'incident: an empty title is PC047');
select throws_ok($$ select open_incident('P1', 'x', null, '[1]') $$, 'PC047', null, 'incident: details that are not an object are PC047');
select throws_ok($$ select open_incident('P1', 'x', 'no_such_flag') $$, 'PC002', null, 'incident: an unknown flag is PC002');
select throws_ok($$ select resolve_incident(-1, 'fixed') $$, 'PC046', 'incident #-1 does not exist', 'incident: resolving an unknown incident is PC046');
select throws_ok(format('select resolve_incident(%s, %L)', (select min(incident_id) from incidents where resolved_at is not null), 'again'),
    'PC046', null, 'incident: resolving twice is PC046');
select throws_ok($$ select resolve_incident(1, ' ') $$, 'PC047', null, 'incident: resolving without a resolution is PC047');
select is(pg_temp.state(), :'before', 'incident: nothing changed after the refused calls');


------------------------------------------------------------------------------------------
-- The guard: a message to an opted-out client pauses the assistant, rolls the guardrail
-- canary back, opens a P0 and records a guard_action event, once.
select rollback_rollout('guardrails_canary', 5, 'guard test: from below');
select advance_rollout('guardrails_canary', 'guard test: to A', true);
select advance_rollout('guardrails_canary', 'guard test: to B', true);
select advance_rollout('guardrails_canary', 'guard test: to C', true);
select is(guard_tick() - 'since', '{"action": "none", "incident_id": null, "outbound_to_opted_out": 0}', 'guard: nothing to do without leaks');
select opt_out('5a5a5a5a-0000-4000-8000-000000000001', 'whatsapp_keyword');
update opt_out_audit set changed_at = now() - interval '1 hour' where cliente_id = '5a5a5a5a-0000-4000-8000-000000000001';
insert into business_events (ts, event_type, cliente_id, event_props)
values (now() - interval '10 minutes', 'outbound_sent', '5a5a5a5a-0000-4000-8000-000000000001', '{"method": "campaign", "channel": "whatsapp"}');
select (select count(*) from business_events where event_type = 'guard_action') as guard_events \gset
select guard_tick() as tick \gset
select is((:'tick'::jsonb) ->> 'action', 'pause_and_rollback', 'guard: a leak makes it act');
select is((:'tick'::jsonb) -> 'rolled_back', '[{"flag_key": "guardrails_canary", "from": 50, "to": 10}]', 'guard: it says what it rolled back');
select is((select value from feature_flags where flag_key = 'pausar_julia'), 'true', 'guard: the assistant is paused (pausar_julia)');
select is(pg_temp.pct('guardrails_canary'), 10, 'guard: the guardrail canary is back at A (10%)');
select results_eq($$ select action, percentage from rollout_history where flag_key = 'guardrails_canary' order by entry_id desc limit 1 $$,
    $$ values ('guard', 10) $$, 'guard: the rollback is in the step history as the guard''s');
select results_eq($$ select severity, source, flag_key, (details ->> 'leaks')::int from incidents where resolved_at is null $$,
    $$ values ('P0', 'guard', null::text, 1) $$, 'guard: one open global P0 incident with the leak count');
select is((select count(*) from business_events where event_type = 'guard_action'), :'guard_events'::bigint + 1,
    'guard: a guard_action event is recorded');
select is((select event_props ->> 'slo' from business_events where event_type = 'guard_action' order by ts desc limit 1),
    'outbound_to_opted_out', 'guard: the event names the SLO');
select is(pg_temp.verdict('business_events_canary'), 'NO-GO', 'guard: its P0 blocks every gate');
select pg_temp.state() as before \gset
select is(guard_tick() ->> 'action', 'none', 'guard: a second tick does nothing');
select is(pg_temp.state(), :'before', 'guard: nothing changed on the second tick');
-- The operator resumes and re-advances on purpose: without new leaks the guard leaves it.
select retomar_julia('guard test: false alarm checked');
select advance_rollout('guardrails_canary', 'guard test: operator back to B', true);
select is(guard_tick() ->> 'action', 'none', 'guard: no new leak, no new action');
insert into business_events (ts, event_type, cliente_id, event_props)
values (now() - interval '5 minutes', 'outbound_sent', '5a5a5a5a-0000-4000-8000-000000000001', '{"method": "followup", "channel": "whatsapp"}');
select guard_tick() as tick \gset
select is((:'tick'::jsonb) ->> 'paused_now', 'true', 'guard: a new leak pauses again');
select is(pg_temp.pct('guardrails_canary'), 10, 'guard: and rolls back again');
select results_eq($$ select count(*)::int, max((details ->> 'leaks')::int) from incidents where guard_key is not null $$,
    $$ values (1, 2) $$, 'guard: the same incident is updated, not a second one opened');
select resolve_incident((select incident_id from incidents where guard_key is not null and resolved_at is null), 'opt-out bug fixed');
select is(guard_tick() ->> 'action', 'none', 'guard: leaks before the resolution are not counted again');
insert into business_events (event_type, cliente_id, event_props)
values ('outbound_bypass', '5a5a5a5a-0000-4000-8000-000000000001', '{"method": "reply", "channel": "whatsapp", "bypass_reason": "x"}');
-- A kill switch that cannot be thrown does not stop the rollback and the incident.
-- The seed keys cannot be deleted (functions/audit.sql); the owner lifts that guard here
-- to reach the state of a database where the row is missing.
alter table feature_flags disable trigger feature_flags_seed_keys_delete;
delete from feature_flags where flag_key = 'pausar_julia';
alter table feature_flags enable trigger feature_flags_seed_keys_delete;
select advance_rollout('guardrails_canary', 'guard test: operator back to B again', true);
select guard_tick() as tick \gset
select is((:'tick'::jsonb) ->> 'action', 'pause_and_rollback', 'guard: a leak after the resolution acts again');
select matches((:'tick'::jsonb) ->> 'pause_error', '^PC002: ', 'guard: a failed pause is reported, not raised');
select is(pg_temp.pct('guardrails_canary'), 10, 'guard: it still rolls back when the pause fails');
select is((select count(*) from incidents where guard_key is not null and resolved_at is null), 1::bigint,
    'guard: with a new open incident');

------------------------------------------------------------------------------------------
-- The RPC contract as PostgREST performs it, and what each role may touch.
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role", "sub": "ops-bot"}', true);
select is(rollout_gate(flag_key => 'guardrails_canary') ->> 'flag_key', 'guardrails_canary', 'rpc: service_role calls rollout_gate with named arguments');
select is(rollback_rollout(flag_key => 'business_events_canary', percentage => 2, reason => 'rpc rollback') ->> 'to_percentage', '2',
    'rpc: service_role calls rollback_rollout');
select is(advance_rollout(flag_key => 'business_events_canary', reason => 'rpc forced', force => true) ->> 'to_percentage', '10',
    'rpc: service_role calls advance_rollout');
select is((select actor from rollout_history order by entry_id desc limit 1), 'ops-bot', 'rpc: the history names the JWT subject');
select is(set_prerequisite(flag_key => 'guardrails_canary', code => 'C1', status => 'met', evidence => 'rpc') ->> 'set_by', 'ops-bot',
    'rpc: service_role calls set_prerequisite');
select is(open_incident(severity => 'P3', title => 'rpc incident') ->> 'opened_by', 'ops-bot', 'rpc: service_role calls open_incident');
select is(resolve_incident(incident_id => (select max(incident_id) from incidents), resolution => 'rpc') ->> 'resolved_by', 'ops-bot',
    'rpc: service_role calls resolve_incident');
select is(guard_tick() ->> 'action', 'none', 'rpc: service_role calls guard_tick');
select cmp_ok((select count(*) from rollout_overview), '=', 2::bigint, 'rpc: service_role reads rollout_overview (one row per plan)');
select throws_ok($$ insert into rollout_history (flag_key, enabled, action, actor) values ('x', true, 'change', 'forged') $$, '42501', null,
    'the rollout history is append-only: service_role cannot write it');
select throws_ok($$ delete from incidents $$, '42501', null, 'service_role cannot delete incidents');
reset role;
set local role anon;
select throws_ok($$ select rollout_gate(flag_key => 'guardrails_canary') $$, '42501', null, 'anon cannot call rollout_gate');
select throws_ok($$ select advance_rollout(flag_key => 'guardrails_canary', reason => 'x', force => true) $$, '42501', null, 'anon cannot call advance_rollout');
select throws_ok($$ select rollback_rollout(flag_key => 'guardrails_canary', percentage => 0, reason => 'x') $$, '42501', null, 'anon cannot call rollback_rollout');
select throws_ok($$ select * from rollout_overview $$, '42501', null, 'anon cannot read rollout_overview');
select throws_ok($$ select guard_tick() $$, '42501', null, 'anon cannot call guard_tick');
reset role;
set local role authenticated;
select throws_ok($$ select rollout_gate(flag_key => 'guardrails_canary') $$, '42501', null, 'authenticated cannot call rollout_gate');
select throws_ok($$ select set_prerequisite(flag_key => 'guardrails_canary', code => 'B1', status => 'met', evidence => 'x') $$, '42501', null,
    'authenticated cannot call set_prerequisite');
select throws_ok($$ select open_incident(severity => 'P3', title => 'x') $$, '42501', null, 'authenticated cannot call open_incident');
select throws_ok($$ select * from incidents $$, '42501', null, 'authenticated cannot read incidents');
select throws_ok($$ select guard_tick() $$, '42501', null, 'authenticated cannot call guard_tick');
reset role;

select * from finish();
rollback;
