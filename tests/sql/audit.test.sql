-- Tamper paths that no row trigger sees are refused (functions/audit.sql, docs/audit.md):
-- TRUNCATE of safety tables and audit trails, renaming or deleting a seed flag, moving an
-- opt-out to another client; a rename of any other flag is audited as old key ended, new key
-- begun. As the owner and as service_role through the PostgREST-style call; nothing changed.
begin;
select plan(46);

create function pg_temp.flags() returns text language sql as
$$ select string_agg(flag_key || '=' || value::text, ',' order by flag_key) from public.feature_flags $$;
select pg_temp.flags() as flags0 \gset
select count(*) as audit0 from feature_flag_audit \gset

-- TRUNCATE: refused on every safety table and trail, for the owner too.
select throws_ok($$truncate feature_flags$$, 'PC060', null, 'TRUNCATE feature_flags raises PC060');
select throws_ok($$truncate opt_outs$$, 'PC060', null, 'TRUNCATE opt_outs raises PC060');
select throws_ok($$truncate feature_flag_audit$$, 'PC060', null, 'TRUNCATE feature_flag_audit raises PC060');
select throws_ok($$truncate rollout_plans cascade$$, 'PC060', null, 'TRUNCATE rollout_plans CASCADE raises PC060');
select throws_ok($$truncate incidents$$, 'PC060', null, 'TRUNCATE incidents raises PC060');
select is(pg_temp.flags(), :'flags0', 'after the refused TRUNCATEs the flags are unchanged');
select is((select count(*) from rollout_plans), 2::bigint, 'after the refused TRUNCATE the plans are all there');
select is(array(select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname = 'public' and c.relname in ('feature_flags', 'feature_flag_audit', 'opt_outs', 'opt_out_audit',
                      'rate_limit_rules', 'rollout_plans', 'rollout_steps', 'rollout_prerequisites', 'rollout_history',
                      'incidents', 'outbound_methods', 'outbound_channels', 'outbound_message_audit', 'alert_outbox')
                  and not exists (select 1 from pg_trigger t where t.tgrelid = c.oid and t.tgname = 'refuse_truncate'
                                  and t.tgenabled <> 'D')
                order by 1), '{}'::text[], 'every safety table and trail carries the TRUNCATE refusal');

-- Seed flags: their keys are a contract.
select throws_ok($$update feature_flags set flag_key = 'pausar_julia_old' where flag_key = 'pausar_julia'$$, 'PC061', null,
                 'renaming pausar_julia raises PC061');
select throws_ok($$delete from feature_flags where flag_key = 'campaigns'$$, 'PC061', null, 'deleting campaigns raises PC061');
select throws_ok($$delete from feature_flags where flag_key = 'guardrails_canary'$$, 'PC061', null, 'deleting guardrails_canary raises PC061');
select is(pg_temp.flags(), :'flags0', 'after the refused rename and deletes the flags are unchanged');
select is((select count(*) from feature_flag_audit), :audit0::bigint, 'and no audit row was written for them');

-- Any other flag: a rename is audited as what it is.
insert into feature_flags (flag_key, value) values ('novo_fluxo', '{"enabled": true}');
set local pgcanary.actor = 'ana@empresa.com';
update feature_flags set flag_key = 'novo_fluxo_v2' where flag_key = 'novo_fluxo';
select is((select string_agg(operation || ' ' || flag_key || ' by ' || actor || ': ' || reason, ' | ' order by audit_id)
             from feature_flag_audit where flag_key like 'novo_fluxo%' and operation <> 'INSERT' or (flag_key = 'novo_fluxo_v2')),
          'DELETE novo_fluxo by ana@empresa.com: renamed to novo_fluxo_v2 | INSERT novo_fluxo_v2 by ana@empresa.com: renamed from novo_fluxo',
          'a rename leaves the old key''s end and the new key''s start, with the actor');
select is((select updated_by from feature_flags where flag_key = 'novo_fluxo_v2'), 'ana@empresa.com', 'the renamed row names who renamed it');

-- An opt-out cannot move to another client.
select opt_out('7a7a7a7a-0000-4000-8000-000000000001', 'whatsapp_keyword') \g /dev/null
select throws_ok($$update opt_outs set cliente_id = '7a7a7a7a-0000-4000-8000-000000000002' where cliente_id = '7a7a7a7a-0000-4000-8000-000000000001'$$,
                 'PC062', null, 'changing opt_outs.cliente_id raises PC062');
select is((select opted_out from opt_outs where cliente_id = '7a7a7a7a-0000-4000-8000-000000000001'), true,
          'after the refused change the client is still opted out');

-- The same as service_role, the way PostgREST calls.
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role", "sub": "ops-bot"}', true) \g /dev/null
select throws_ok($$update feature_flags set flag_key = 'x' where flag_key = 'pausar_julia'$$, 'PC061', null, 'service_role cannot rename pausar_julia');
select throws_ok($$delete from feature_flags where flag_key = 'pausar_julia'$$, 'PC061', null, 'service_role cannot delete pausar_julia');
select throws_ok($$update opt_outs set cliente_id = gen_random_uuid()$$, 'PC062', null, 'service_role cannot move an opt-out');
select throws_ok($$truncate feature_flags$$, '42501', null, 'service_role has no TRUNCATE privilege at all');
reset role;
set local role anon;
select throws_ok($$delete from feature_flags where flag_key = 'novo_fluxo_v2'$$, '42501', null, 'anon cannot touch feature_flags');
reset role;

-- safety_audit: raw edits of config and governance tables leave old, new, actor, reason.
select set_config('request.jwt.claims', '', true) \g /dev/null
select count(*) as sa0 from safety_audit \gset
set local pgcanary.reason = 'janela maior';
update rate_limit_rules set max_hits = max_hits + 1 where scope = (select min(scope) from rate_limit_rules);
select is((select operation || ' ' || table_name || ' by ' || actor || ': ' || reason || ' ' ||
                  ((new_row ->> 'max_hits')::int - (old_row ->> 'max_hits')::int)::text from safety_audit order by audit_id desc limit 1),
          'UPDATE rate_limit_rules by ana@empresa.com: janela maior 1', 'owner: a raw UPDATE of a rate-limit rule leaves old, new, actor and reason');
set local pgcanary.reason = '';
select count(*) as sa0 from safety_audit \gset
update rollout_steps set min_stable = min_stable where true;
select is((select count(*) from safety_audit), :sa0::bigint, 'a no-op UPDATE writes nothing');
delete from rollout_prerequisites where ctid = (select min(ctid) from rollout_prerequisites);
select is((select operation || ' ' || table_name || ' ' || (old_row is not null)::text || ' ' || (new_row is null)::text
             from safety_audit order by audit_id desc limit 1), 'DELETE rollout_prerequisites true true', 'owner: a DELETE of a prerequisite keeps the old row');
update rollout_history set reason = 'forged' where entry_id = (select max(entry_id) from rollout_history);
select is((select table_name || ' ' || operation || ' ' || (new_row ->> 'reason') from safety_audit order by audit_id desc limit 1),
          'rollout_history UPDATE forged', 'owner: an edit of another trail is itself recorded');
update circuit_breakers set consecutive_failures = consecutive_failures where false;
insert into circuit_breakers (name) values ('audit_test');
select count(*) as sa1, coalesce(max(audit_id), 0) as sa1_id from safety_audit \gset
update circuit_breakers set consecutive_failures = 3 where name = 'audit_test';
select is((select count(*) from safety_audit), :sa1::bigint, 'a breaker''s failure counter is not trailed (it moves on every send)');
update circuit_breakers set state = 'open', open_until = now() + interval '1 minute' where name = 'audit_test';
update circuit_breakers set state = 'closed', open_until = null where name = 'audit_test';
select is((select string_agg(new_row ->> 'state', ',' order by audit_id) from safety_audit where table_name = 'circuit_breakers' and audit_id > :sa1_id),
          'open,closed', 'a breaker forced open and closed by hand leaves both changes');
insert into outbound_messages (dedupe_key, cliente_id, method, payload) values ('audit-del', gen_random_uuid(), 'reply', '{"to": "+5511987654321"}');
delete from outbound_messages where dedupe_key = 'audit-del';
select is((select (old_row ->> 'dedupe_key') || ' ' || (old_row ? 'payload')::text from safety_audit order by audit_id desc limit 1),
          'audit-del false', 'a deleted outbox row is recorded (its dedupe key is freed), without its payload');

-- The trail itself: no role changes or removes a row.
select throws_ok($$update safety_audit set actor = 'someone else'$$, 'PC063', null, 'owner: UPDATE of safety_audit raises PC063');
select throws_ok($$delete from safety_audit$$, 'PC063', null, 'owner: DELETE of safety_audit raises PC063');
select throws_ok($$truncate safety_audit$$, 'PC060', null, 'owner: TRUNCATE of safety_audit raises PC060');

-- As service_role through the PostgREST-style call: the JWT subject is the actor.
select coalesce(max(audit_id), 0) as sa2 from safety_audit \gset
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role", "sub": "ops-bot"}', true) \g /dev/null
update incidents set title = title || ' (edited)' where incident_id = (select min(incident_id) from incidents);
insert into incidents (severity, title, opened_by) values ('P3', 'audit test', 'ops-bot');
delete from outbound_channels where false;
update outbound_methods set max_hold = max_hold + interval '1 minute' where method = 'reply';
select throws_ok($$update safety_audit set actor = 'x'$$, '42501', null, 'service_role cannot update safety_audit');
select throws_ok($$insert into safety_audit (table_name, operation, actor) values ('x', 'INSERT', 'forged')$$, '42501', null,
                 'service_role cannot forge a safety_audit row');
select throws_ok($$select setval('safety_audit_audit_id_seq', 1)$$, '42501', null, 'service_role cannot move the trail''s sequence');
reset role;
select is((select string_agg(table_name || ' ' || operation || ' by ' || actor, ', ' order by audit_id) from safety_audit where audit_id > :sa2),
          concat_ws(', ', case when exists (select 1 from incidents where title like '% (edited)') then 'incidents UPDATE by ops-bot' end,
                    'incidents INSERT by ops-bot', 'outbound_methods UPDATE by ops-bot'),
          'service_role: incident and method edits are recorded with the JWT subject');
select is(array(select c.relname::text from pg_class c where c.relnamespace = 'public'::regnamespace
                and c.relname in ('rate_limit_rules', 'rollout_plans', 'rollout_steps', 'rollout_prerequisites', 'incidents', 'outbound_methods',
                                  'outbound_channels', 'business_event_types', 'external_handoffs', 'circuit_breakers', 'outbound_messages',
                                  'feature_flag_audit', 'opt_out_audit', 'outbound_message_audit', 'rollout_history')
                and not exists (select 1 from pg_trigger t where t.tgrelid = c.oid and t.tgname = 'safety_audit' and t.tgenabled <> 'D')
                order by 1), '{}'::text[], 'every safety table without a trail of its own, and every other trail, carries the safety_audit trigger');

-- A replica session (session_replication_role = replica) skips ordinary triggers; ours fire
-- ALWAYS, so the write is audited and refused as any other, and the session is recorded.
select coalesce(max(audit_id), 0) as sa3 from safety_audit \gset
set local session_replication_role = replica;
update rate_limit_rules set max_hits = max_hits + 1 where scope = (select min(scope) from rate_limit_rules);
select throws_ok($$update feature_flags set flag_key = 'x' where flag_key = 'pausar_julia'$$, 'PC061', null,
                 'replica session: renaming pausar_julia is still refused');
set local session_replication_role = origin;
select is((select string_agg(distinct operation, ',') from safety_audit where audit_id > :sa3 and table_name = 'rate_limit_rules'),
          'REPLICA_SESSION,UPDATE', 'replica session: the rule change is audited and the replica session recorded');
select is(array(select e.table_name || '.' || e.trigger_name from pgcanary_private.audit_triggers() e
                where not exists (select 1 from pg_trigger t where t.tgrelid = e.table_name::regclass
                                  and t.tgname = e.trigger_name and t.tgenabled = 'A')), '{}'::text[],
          'every audit and refusal trigger fires ALWAYS after migrate');
-- A rate-limit key rotation is on record, with a fingerprint and never the key (issue 14).
select throws_ok($$truncate pgcanary_private.hash_keys$$, 'PC060', null, 'TRUNCATE hash_keys raises PC060');
select opt_out('c0000000-0000-4000-8000-0000000000b1', 'audit test', '+55 11 97777-0001') \g /dev/null
select throws_ok($$update pgcanary_private.hash_keys set secret = decode(repeat('cd', 32), 'hex') where key_name = 'rate_limit'$$,
                 'PC065', null, 'the rate-limit key cannot be rotated while a phone is opted out (its opt-out is keyed by it)');
select throws_ok($$delete from pgcanary_private.hash_keys where key_name = 'rate_limit'$$, 'PC065', null, 'nor deleted');
update phone_opt_outs set opted_out = false where opted_out;  -- no phone opt-out in force: the key may rotate
select max(audit_id) as hk0 from safety_audit \gset
update pgcanary_private.hash_keys set secret = decode(repeat('ab', 32), 'hex') where key_name = 'rate_limit';
select is((select actor || ' ' || operation || ' ' || (new_row ->> 'fingerprint') from safety_audit where audit_id > :hk0 and table_name = 'hash_keys'),
          pgcanary_private.current_actor() || ' UPDATE ' || left(encode(sha256(decode(repeat('ab', 32), 'hex')), 'hex'), 12),
          'a key rotation leaves a safety_audit row with the actor and the new key''s fingerprint');
select is((select count(*) from safety_audit where audit_id > :hk0 and (new_row::text like '%abababab%' or new_row ? 'secret'
                                                                       or new_row ? 'inner_pad' or old_row ? 'secret')),
          0::bigint, 'and the trail holds neither the key nor its pads');
update pgcanary_private.hash_keys set created_at = created_at where key_name = 'rate_limit';
select is((select count(*) from safety_audit where audit_id > :hk0), 1::bigint, 'a no-op update of the key writes no row');
select * from finish();
rollback;
