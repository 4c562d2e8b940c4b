-- functions/stale_flags.sql: stale_flags() and health_stale_flags.
begin;
select plan(23);

delete from feature_flags where flag_key like 'stale_t_%';
insert into feature_flags (flag_key, value, description, owner) values
    ('stale_t_full',    '{"enabled": true, "percentage": 100}', 'a finished rollout',     'growth'),
    ('stale_t_off',     '{"enabled": false, "percentage": 10}', 'a killed rollout',       'growth'),
    ('stale_t_running', '{"enabled": true, "percentage": 10}',  'a running canary',       'growth'),
    ('stale_t_switch',  'true',                                 'an on/off switch stays', 'growth'),
    ('stale_t_nodesc',  '{"enabled": true, "percentage": 50}',  '  ',                     null);

-- Just written: nothing is old enough at the seed's two weeks.
select is((select count(*) from stale_flags() where object_name like 'stale_t_%' and check_name not like 'flag_without_%'),
          0::bigint, 'flags changed today are not stale at 14 days');
-- A negative threshold makes every row old enough: the rules, without faking timestamps.
select is((select check_name from stale_flags(interval '-1 day') where object_name = 'stale_t_full'),
          'flag_fully_rolled_out', 'a rollout at 100% is reported');
select is((select check_name from stale_flags(interval '-1 day') where object_name = 'stale_t_off'),
          'flag_off_too_long', 'a rollout off for everyone is reported');
select is((select count(*) from stale_flags(interval '-1 day') where object_name in ('stale_t_running', 'stale_t_switch')),
          0::bigint, 'a running canary and an on/off switch are not stale');
select is((select array_agg(check_name order by check_name) from stale_flags() where object_name = 'stale_t_nodesc'),
          array['flag_without_description', 'flag_without_owner'], 'a blank description and a missing owner are reported');
select is((select count(*) from stale_flags() where object_name in ('stale_t_full', 'stale_t_running')),
          0::bigint, 'a described, owned flag is not reported at 14 days');
select is((select array_agg(column_name::text order by ordinal_position) from information_schema.columns
           where table_schema = 'public' and table_name = 'health_stale_flags'),
          array['check_name', 'object_type', 'object_name', 'detail'], 'the health views'' column set');
select ok((daily_health() -> 'stale_flags') @> '[{"object_name": "stale_t_nodesc"}]', 'the daily panel shows them');

-- Not evaluated (flag_evaluations, reported by the clients). Ages are set by hand: a month-old
-- flag nobody evaluates, one evaluated a month ago, one evaluated today.
insert into feature_flags (flag_key, value, description, owner, created_at) values
    ('stale_t_unused', '{"enabled": true, "percentage": 10}', 'nobody reads it', 'growth', now() - interval '30 days'),
    ('stale_t_old',    '{"enabled": true, "percentage": 10}', 'read long ago',   'growth', now() - interval '30 days'),
    ('stale_t_live',   '{"enabled": true, "percentage": 10}', 'read today',      'growth', now() - interval '30 days');
update feature_flags set created_at = now() - interval '30 days' where flag_key in ('stale_t_unused', 'stale_t_old', 'stale_t_live', 'pausar_julia');
delete from flag_evaluations;
select is((select count(*) from stale_flags() where check_name = 'flag_not_evaluated'), 0::bigint,
          'no client reports: nothing is listed as not evaluated (it would be every flag)');
select is(note_flag_evaluations(flag_keys => array['stale_t_old', 'stale_t_live', 'stale_t_live', 'no_such_flag']), 2,
          'note_flag_evaluations records each known key once and ignores unknown ones');
select is(note_flag_evaluations(flag_keys => array['stale_t_live']), 0, 'a second report within a minute moves no row');
update flag_evaluations set last_evaluated_at = now() - interval '20 days' where flag_key = 'stale_t_old';
select is((select array_agg(object_name order by object_name) from stale_flags() where check_name = 'flag_not_evaluated' and object_name like 'stale_t_%'),
          array['stale_t_old', 'stale_t_unused'], 'a flag never evaluated and one last evaluated 20 days ago are listed; one read today is not');
select matches((select detail from stale_flags() where check_name = 'flag_not_evaluated' and object_name = 'stale_t_old'),
               '^last evaluated on \d{4}-\d\d-\d\d \(20 days ago\)', 'the detail says when it was last evaluated');
select is((select count(*) from stale_flags() where check_name = 'flag_not_evaluated' and object_name = 'pausar_julia'), 0::bigint,
          'a seed flag (read by our SQL, which does not report) is never listed');
select ok((daily_health() -> 'stale_flags') @> '[{"object_name": "stale_t_unused", "check_name": "flag_not_evaluated"}]',
          'the daily panel shows them');
select is(note_flag_evaluations(flag_keys => array['stale_t_old']), 1, 'an old row moves on the next report');
select count(*) as evals0 from flag_evaluations \gset
select throws_ok('select note_flag_evaluations(flag_keys => null)', 'PC003', null, 'a NULL list is PC003');
select throws_ok(format('select note_flag_evaluations(flag_keys => %L::text[])', array(select 'k' || g from generate_series(1, 1001) g)),
                 'PC003', 'flag_keys must be an array of at most 1000 flag keys, got 1001 keys', 'more than 1000 keys is PC003');
select is((select count(*) from flag_evaluations), :evals0::bigint, 'and nothing changed');
set local role anon;
select throws_ok('select note_flag_evaluations(flag_keys => array[''x''])', '42501', null, 'anon cannot report evaluations');
select throws_ok('select * from stale_flags()', '42501', null, 'anon cannot call stale_flags');
reset role;
set local role authenticated;
select throws_ok('select note_flag_evaluations(flag_keys => array[''x''])', '42501', null, 'authenticated cannot report evaluations');
select throws_ok('select * from health_stale_flags', '42501', null, 'authenticated cannot read the view');
reset role;

select * from finish();
rollback;
