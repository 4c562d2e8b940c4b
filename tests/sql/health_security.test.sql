-- The security health views read zero rows on our schema, and each one catches its fault.
begin;
select plan(28);

select is((select count(*) from health_security_all), 0::bigint, 'health_security_all is empty after migrate');

-- Each view catches what it is for (faults created inside this rolled-back transaction).
create table public.hs_probe_table (id int);
select is((select count(*) from health_security_tables_without_rls where object_name = 'hs_probe_table'), 1::bigint,
          'a table without RLS is reported');
grant select on public.hs_probe_table to anon;
select is((select count(*) from health_security_anon_grants where object_name = 'hs_probe_table'), 1::bigint,
          'a grant to anon on a table is reported');
create function public.hs_probe_fn() returns int language sql as 'select 1';
select is((select count(*) from health_security_mutable_search_path where object_name = 'hs_probe_fn()'), 1::bigint,
          'a function without a fixed search_path is reported');
select is((select count(*) from health_security_anon_grants where object_name = 'hs_probe_fn()'), 2::bigint,
          'default EXECUTE through PUBLIC is reported for anon and authenticated');
create function public.hs_probe_definer() returns int language sql security definer set search_path = pg_catalog as 'select 1';
select is((select count(*) from health_security_exposed_definer where object_name = 'hs_probe_definer()'), 2::bigint,
          'an exposed SECURITY DEFINER function is reported');
grant usage on sequence public.feature_flag_audit_audit_id_seq to anon;
select is((select count(*) from health_security_anon_grants where object_name = 'feature_flag_audit_audit_id_seq'
             and object_type = 'sequence'), 1::bigint, 'a grant to anon on an audit sequence is reported');
alter default privileges in schema pgcanary_private grant select on tables to authenticated;
select is((select count(*) from health_security_default_privileges where object_name = 'pgcanary_private'
             and detail like '%authenticated SELECT'), 1::bigint,
          'a default privilege handing our private schema''s next tables to authenticated is reported');
alter default privileges grant execute on functions to anon;
select is((select count(*) from health_security_default_privileges where object_name = '(every schema)'), 1::bigint,
          'a global default privilege for anon is reported');
-- What would stop auditing is reported (issue 14).
select is((select count(*) from health_security_audit_triggers), 0::bigint, 'no audit trigger finding on a clean install');
alter table opt_outs disable trigger opt_outs_audit;
select is((select object_name || ': ' || detail from health_security_audit_triggers), 'public.opt_outs.opt_outs_audit: disabled: writes pass without it (re-run pgcanary migrate)',
          'a disabled opt-out audit trigger is reported');
alter table feature_flags enable replica trigger feature_flags_audit;
select is((select count(*) from health_security_audit_triggers where object_name = 'public.feature_flags.feature_flags_audit' and detail like 'fires only in replica%'),
          1::bigint, 'an audit trigger switched to replica-only is reported');
drop trigger safety_audit on public.rollout_steps;
select is((select count(*) from health_security_audit_triggers where check_name = 'audit_trigger_missing' and object_name = 'public.rollout_steps.safety_audit'),
          1::bigint, 'a dropped safety_audit trigger is reported');
drop trigger refuse_truncate on public.incidents;
select is((select count(*) from health_security_audit_triggers where object_name = 'public.incidents.refuse_truncate'), 1::bigint,
          'a dropped TRUNCATE refusal is reported');
alter table rate_limit_rules enable trigger safety_audit;
select is((select detail from health_security_audit_triggers where object_name = 'public.rate_limit_rules.safety_audit'),
          'skipped by session_replication_role = replica (re-run pgcanary migrate)', 'an audit trigger set back to plain ENABLE is reported');
select is((select count(*) from health_security_audit_triggers), 5::bigint, 'and nothing else is');

-- An audit sequence set back, and a hole in a trail, are reported (issue 14).
select is((select count(*) from health_security_audit_sequences), 0::bigint, 'no audit sequence finding on a clean install');
alter table feature_flags enable always trigger feature_flags_audit;  -- made replica-only above
select set_rollout_percentage('business_events_canary', 1, 'hs seq 1');
savepoint hole;
select set_rollout_percentage('business_events_canary', 0, 'hs seq rolled back');
rollback to savepoint hole;
select set_rollout_percentage('business_events_canary', 0, 'hs seq 2');
select is((select count(*) from health_security_audit_sequences), 0::bigint,
          'a rolled-back flag change (a gap in the ids) is no finding');
alter table feature_flag_audit disable trigger trail_rows, disable trigger safety_audit;
delete from feature_flag_audit where audit_id = (select max(audit_id) - 1 from feature_flag_audit);
alter table feature_flag_audit enable always trigger trail_rows, enable always trigger safety_audit;
select is((select detail from health_security_audit_sequences where object_name = 'public.feature_flag_audit'),
          'holds ' || (select count(*) from feature_flag_audit) || ' rows, 1 fewer than were written through its trigger: rows deleted with the triggers off',
          'a flag trail row deleted with the triggers off is reported');
alter table opt_outs enable always trigger opt_outs_audit;  -- disabled above
select opt_out('c0000000-0000-4000-8000-0000000000a1', 'hs test');
select opt_out('c0000000-0000-4000-8000-0000000000a2', 'hs test');
select is((select count(*) from health_security_audit_sequences where object_name = 'public.opt_out_audit_audit_id_seq'), 0::bigint,
          'the opt-out trail sequence is clean before the test sets it back');
select setval(pg_get_serial_sequence('public.opt_out_audit', 'audit_id'), (select max(audit_id) - 1 from opt_out_audit));
select is((select check_name from health_security_audit_sequences where object_name = 'public.opt_out_audit_audit_id_seq'),
          'audit_sequence_set_back', 'an opt-out trail sequence set below its highest id is reported');
select is((select count(*) from health_security_all where check_name like 'audit_%'), 5::bigint,
          'the daily list carries them with the trigger findings');
set local role service_role;
select is((select count(*) from health_security_audit_sequences), 2::bigint, 'service_role reads the sequence check without a grant on the sequences');
reset role;
select throws_ok($$select opt_out('c0000000-0000-4000-8000-0000000000a3', 'hs test')$$, '23505', null,
                 'and the next audited write fails closed rather than overwrite (each failure moves the sequence one on)');
select cmp_ok((select count(*) from health_security_all), '>=', 15::bigint, 'health_security_all unions every check');

-- Only service_role reads them.
set local role service_role;
select lives_ok('select count(*) from health_security_all', 'service_role can open the security views');
reset role;
set local role anon;
select throws_ok('select count(*) from health_security_all', '42501', null, 'anon cannot open the security views');
reset role;
set local role authenticated;
select throws_ok('select count(*) from health_security_anon_grants', '42501', null, 'authenticated cannot open the security views');
reset role;

select * from finish();
rollback;
