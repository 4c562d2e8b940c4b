-- Operator commands do what they say or refuse (DESIGN.md invariant 7; docs/operator.md):
-- kill moves every flag to its safe state (data: feature_flags.safe_enabled), resume out of
-- it; a planned flag is not raised past its gate by set_rollout_percentage. As the owner and
-- as service_role through the PostgREST-style call; anon / authenticated refused.
begin;
select plan(38);

create function pg_temp.state(k text) returns text language sql as
$$ select coalesce((select value::text || ' safe=' || safe_enabled from public.feature_flags where flag_key = k), '<no row>') $$;

-- The safe state is data, and it is right for every seeded flag.
select is((select safe_enabled from feature_flags where flag_key = 'pausar_julia'), true, 'pausar_julia''s safe state is true (paused)');
select is((select array_agg(flag_key order by flag_key) from feature_flags where safe_enabled and flag_key <> 'pausar_julia'), null,
          'every other seeded flag is safe when off');

-- Killing a paused assistant keeps it paused (it used to un-pause it).
update feature_flags set value = 'true' where flag_key = 'pausar_julia';
select is(kill_flag('pausar_julia', 'incident 12') ->> 'in_safe_state', 'true', 'kill on a paused assistant reports it in its safe state');
select is(pg_temp.state('pausar_julia'), 'true safe=true', 'kill on a paused assistant keeps it paused');
update feature_flags set value = 'false' where flag_key = 'pausar_julia';
select is(kill_flag('pausar_julia', 'incident 13') ->> 'enabled', 'true', 'kill on a running assistant pauses it');
select is((check_outbound_guardrails(gen_random_uuid(), '5511900001111', 'followup') ->> 'block_reason'), 'assistant_paused',
          'after kill the next send is blocked as assistant_paused');
select is((select reason from feature_flag_audit where flag_key = 'pausar_julia' order by audit_id desc limit 1), 'incident 13',
          'the kill is audited with its reason');
select is(resume_flag('pausar_julia', 'incident 13 over') ->> 'in_safe_state', 'false', 'resume takes the assistant out of its safe state');
select is(pg_temp.state('pausar_julia'), 'false safe=true', 'resume un-pauses the assistant');

-- An ordinary feature: kill turns it off, the percentage is kept.
select is(kill_flag('guardrails_canary', 'incident 14') -> 'in_safe_state', 'true'::jsonb, 'kill on a canary puts it in its safe state');
select is((select value ->> 'enabled' from feature_flags where flag_key = 'guardrails_canary'), 'false', 'kill on a canary disables it');
select is(kill_flag('guardrails_canary', 'incident 14 again') ->> 'enabled', 'false', 'a second kill leaves it off (never inverts)');
select is(resume_flag('guardrails_canary', 'incident 14 over') ->> 'enabled', 'true', 'resume turns the canary back on');

-- No on/off state: refused, nothing changed.
select pg_temp.state('business_events_rollout_pct') as alias_before \gset
select throws_ok($$select kill_flag('business_events_rollout_pct', 'wrong flag')$$, 'PC080', null, 'kill on the percentage alias raises PC080');
select is(pg_temp.state('business_events_rollout_pct'), :'alias_before', 'after the refused kill the alias is unchanged');

-- The safe state cannot be changed afterwards (kill trusts it), by anyone; a new flag sets it.
select throws_ok($$update feature_flags set safe_enabled = false where flag_key = 'pausar_julia'$$, 'PC081', null,
                 'changing pausar_julia''s safe state raises PC081');
select is(pg_temp.state('pausar_julia'), 'false safe=true', 'after the refused change the safe state is unchanged');
insert into feature_flags (flag_key, value, safe_enabled) values ('maintenance_mode', 'false', true);
select is(kill_flag('maintenance_mode', 'db upgrade') ->> 'enabled', 'true', 'a new inverted flag created with its safe state is killed into it');

-- The gate: raising a planned flag through set_rollout_percentage is refused (PC082) and
-- nothing changes; lowering is allowed; advance_rollout is the way up.
select pg_temp.state('guardrails_canary') as canary_before \gset
select throws_ok($$select set_rollout_percentage('guardrails_canary', 50, 'skip the gate')$$, 'PC082', null,
                 'raising a planned flag with set_rollout_percentage raises PC082');
select is(pg_temp.state('guardrails_canary'), :'canary_before', 'after the refused raise the canary is unchanged');
select is(set_rollout_percentage('guardrails_canary', 5, 'lower it') -> 'percentage', '5'::jsonb, 'lowering a planned flag is allowed');
select is(advance_rollout('guardrails_canary', 'back to step A', force => true) ->> 'to_percentage', '10',
          'advance_rollout is the way up (to the next step)');
select alike((select reason from feature_flag_audit where flag_key = 'guardrails_canary' order by audit_id desc limit 1),
          '%back to step A', 'the advance is audited with its reason (FORCED when past a NO-GO)');
select is(set_rollout_percentage('external_handoff', 30, 'no plan, no gate') -> 'percentage', '30'::jsonb,
          'a flag without a plan is raised by set_rollout_percentage as before');

-- Blocked messages: the verdict says hold (until when) or cancel, and outbox_check obeys it.
select resume_flag('pausar_julia', 'for the outbox tests') \g /dev/null
select is(pgcanary_private.block_disposition('opted_out', now(), null), '{"disposition": "cancel"}'::jsonb, 'an opt-out cancels');
select is(pgcanary_private.block_disposition('rate_limited', '2026-01-01 10:00Z', '2026-01-01 10:20Z') ->> 'hold_until',
          '2026-01-01T10:20:00+00:00', 'a rate limit holds until its window frees');
select is(pgcanary_private.next_business_open('2026-12-05 22:00Z', '09:00', '18:00', '{1,2,3,4,5}', 'America/Sao_Paulo'),
          '2026-12-07 12:00Z'::timestamptz, 'outside hours on a Saturday evening holds until Monday 09:00 in Sao Paulo');
select pode_enviar_com_dedupe(gen_random_uuid(), 'followup', 'op', '{"number": "5511900007777", "text": "x"}') \g /dev/null
select (select id from outbox_claim('w1', 10, 60) limit 1) as claimed \gset
select throws_ok(format($$select outbox_check('w2', %L)$$, :'claimed'), 'PC032', null, 'outbox_check by a worker without the lease raises PC032');
select is((select status || ':' || lease_owner from outbound_messages where id = :'claimed'), 'sending:w1', 'after the refused check the lease is unchanged');
update feature_flags set value = 'true' where flag_key = 'pausar_julia';
select is(outbox_check('w1', :'claimed') ->> 'disposition', 'hold', 'paused: the message is held');
select is((select status || ':' || block_reason || ':' || attempts || ':' || (next_attempt_at > now() + interval '4 minutes')
             from outbound_messages where id = :'claimed'), 'queued:assistant_paused:0:true',
          'held: queued again, its reason kept, the attempt not counted, re-checked in minutes');
update feature_flags set value = 'false' where flag_key = 'pausar_julia';
select ok((select next_attempt_at <= now() from outbound_messages where id = :'claimed'), 'un-pausing wakes the held message at once');

-- As service_role through the PostgREST-style call; anon and authenticated refused.
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role", "sub": "ops-bot"}', true) \g /dev/null
select is(kill_flag(flag_key => 'pausar_julia', reason => 'rpc kill') ->> 'enabled', 'true', 'service_role kills into the safe state');
select throws_ok($$select set_rollout_percentage(flag_key => 'guardrails_canary', percentage => 100, reason => 'rpc')$$, 'PC082', null,
                 'service_role cannot raise a planned flag past its gate either');
reset role;
set local role anon;
select throws_ok($$select kill_flag(flag_key => 'pausar_julia', reason => 'anon')$$, '42501', null, 'anon cannot call kill_flag');
select throws_ok(format($$select outbox_check(worker_id => 'w1', message_id => %L)$$, :'claimed'), '42501', null, 'anon cannot call outbox_check');
reset role;
set local role authenticated;
select throws_ok($$select resume_flag(flag_key => 'pausar_julia', reason => 'user')$$, '42501', null, 'authenticated cannot call resume_flag');
select throws_ok(format($$select outbox_check(worker_id => 'w1', message_id => %L)$$, :'claimed'), '42501', null, 'authenticated cannot call outbox_check');
reset role;

select * from finish();
rollback;
