-- functions/stale_flags.sql: stale_flags() and health_stale_flags.
begin;
select plan(10);

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

set local role anon;
select throws_ok('select * from stale_flags()', '42501', null, 'anon cannot call stale_flags');
reset role;
set local role authenticated;
select throws_ok('select * from health_stale_flags', '42501', null, 'authenticated cannot read the view');
reset role;

select * from finish();
rollback;
