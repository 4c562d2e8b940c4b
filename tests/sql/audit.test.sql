-- Tamper paths that no row trigger sees are refused (functions/audit.sql, docs/audit.md):
-- TRUNCATE of safety tables and audit trails, renaming or deleting a seed flag, moving an
-- opt-out to another client; a rename of any other flag is audited as old key ended, new key
-- begun. As the owner and as service_role through the PostgREST-style call; nothing changed.
begin;
select plan(22);

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

select * from finish();
rollback;
