-- Feature flags and bucketing (functions/flags.sql): the seed's statements verbatim, bucket
-- vectors, evaluation reasons and phases, is_enabled = evaluate_flag, cohorts, allowlist,
-- kill switch, write-time validation, audit trail, and the RPC contract as PostgREST calls it.
-- Everything runs in one transaction that is rolled back; each section sets the state it needs.
begin;
select plan(217);

-- This file tests the flag's mechanics, not its rollout gate: without its plan,
-- set_rollout_percentage may raise business_events_canary (governance.test.sql tests PC082).
delete from public.rollout_plans where flag_key = 'business_events_canary';

-- The shared vectors (tests/vectors/buckets.json; psql runs with cwd = repo root).
\set vectors `cat tests/vectors/buckets.json`
create temp table vectors as
select (e ->> 'cliente_id')::uuid as id, (e ->> 'bucket')::int as bucket, (e ->> 'salted_bucket')::int as salted
from jsonb_array_elements((:'vectors')::jsonb -> 'vectors') as e;
select (:'vectors')::jsonb ->> 'salt' as salt \gset
select (select id from vectors where bucket = 0 order by id limit 1) as low_id,        -- in at 2%
       (select id from vectors where bucket between 50 and 97 order by id limit 1) as high_id  -- out at 2%, 10%, 50%
\gset

-- Helpers (temporary, dropped with the transaction).
-- The value of a flag and the size of the audit trail: "nothing changed" compares two of these.
create function pg_temp.flag_state(k text) returns text language sql as $$
    select coalesce((select f.value::text from public.feature_flags f where f.flag_key = k), '<no row>')
           || ' | audit rows: ' || (select count(*) from public.feature_flag_audit)::text $$;
-- Runs a statement verbatim and returns the number of rows it touched.
create function pg_temp.rows_affected(cmd text) returns bigint language plpgsql as $$
declare n bigint;
begin execute cmd; get diagnostics n = row_count; return n; end $$;
-- The message and hint of the error a statement raises (the statement is rolled back).
create function pg_temp.message_and_hint(cmd text) returns text language plpgsql as $$
declare msg text; hint text;
begin
    execute cmd;
    return '<no error>';
exception when others then
    get stacked diagnostics msg = message_text, hint = pg_exception_hint;
    return msg || ' // hint: ' || coalesce(nullif(hint, ''), '<none>');
end $$;
-- The phase evaluate_flag and get_rollout_status report after set_rollout_percentage(pct).
create function pg_temp.phase_at(pct int) returns text language plpgsql as $$
begin
    perform public.set_rollout_percentage('business_events_canary', pct, 'phase test');
    return (public.evaluate_flag('business_events_canary', '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b') ->> 'phase')
           || '/' || (public.get_rollout_status('business_events_canary') ->> 'phase');
end $$;
-- The vector ids that is_enabled lets in after set_rollout_percentage(pct).
create function pg_temp.cohort_at(pct int) returns uuid[] language plpgsql as $$
begin
    perform public.set_rollout_percentage('business_events_canary', pct, 'cohort test');
    return array(select v.id from vectors v where public.is_enabled('business_events_canary', v.id) order by v.id);
end $$;
-- Runs the seed's percentage command with value pct; returns rows touched ':' canary percentage.
create function pg_temp.seed_pct_command(pct text) returns text language plpgsql as $$
declare n bigint;
begin
    n := pg_temp.rows_affected(format('UPDATE feature_flags SET value = %L WHERE flag_key = %L', pct, 'business_events_rollout_pct'));
    return n || ':' || (public.get_rollout_status('business_events_canary') ->> 'percentage');
end $$;
-- Whether the validator accepts a value (true) or refuses it (false).
create function pg_temp.accepted(k text, v jsonb) returns boolean language plpgsql as $$
begin perform pgcanary_private.validate_flag_value(k, v); return true;
exception when sqlstate 'PC001' then return false; end $$;

-- Start from the migrated state whatever ran before.
update feature_flags set value = 'true' where flag_key = 'business_events_enabled';

------------------------------------------------------------------------------------------
-- The seed's INSERT ... ON CONFLICT, verbatim (Story 8.1), on a missing row and on an existing one.
-- The seed keys cannot be deleted (functions/audit.sql); the owner lifts that guard here
-- to reach the state of a database where the row is missing.
alter table feature_flags disable trigger feature_flags_seed_keys_delete;
delete from feature_flags where flag_key = 'business_events_canary';
alter table feature_flags enable trigger feature_flags_seed_keys_delete;
select lives_ok($$
INSERT INTO feature_flags (flag_key, value, description)
VALUES (
    'business_events_canary',
    '{"enabled": true, "percentage": 2, "force_on": []}',
    'Canary rollout para business_events: enabled, percentage (0-100), force_on (UUIDs para debug)'
)
ON CONFLICT (flag_key) DO UPDATE SET value = EXCLUDED.value;
$$, 'seed INSERT ... ON CONFLICT runs verbatim when the flag is missing');
select is((select value from feature_flags where flag_key = 'business_events_canary'),
          '{"enabled": true, "percentage": 2, "force_on": []}'::jsonb, 'seed INSERT creates the canary flag at 2%');
update feature_flags set value = '{"enabled": true, "percentage": 10, "force_on": []}' where flag_key = 'business_events_canary';
select is(pg_temp.rows_affected($$
INSERT INTO feature_flags (flag_key, value, description)
VALUES (
    'business_events_canary',
    '{"enabled": true, "percentage": 2, "force_on": []}',
    'Canary rollout para business_events: enabled, percentage (0-100), force_on (UUIDs para debug)'
)
ON CONFLICT (flag_key) DO UPDATE SET value = EXCLUDED.value;
$$), 1::bigint, 'seed INSERT ... ON CONFLICT runs verbatim on an existing flag');
select is((select value from feature_flags where flag_key = 'business_events_canary'),
          '{"enabled": true, "percentage": 2, "force_on": []}'::jsonb, 'seed ON CONFLICT DO UPDATE sets the value');
select is((select value from feature_flags where flag_key = 'business_events_rollout_pct'), '2'::jsonb,
          'seed INSERT keeps business_events_rollout_pct in step');

------------------------------------------------------------------------------------------
-- Bucketing against the shared vectors.
select cmp_ok((select count(*) from vectors), '>=', 1000::bigint, 'the vector file holds at least 1,000 ids');
select is((select count(distinct bucket) from vectors), 100::bigint, 'the vectors cover all 100 buckets');
select is(array(select id from vectors where canary_bucket(id) is distinct from bucket order by id), '{}'::uuid[],
          'canary_bucket matches every vector without salt');
select is(array(select id from vectors where canary_bucket(id, :'salt') is distinct from salted order by id), '{}'::uuid[],
          'canary_bucket matches every vector with the salt');
select is(array(select id from vectors where canary_bucket(id, null) is distinct from bucket order by id), '{}'::uuid[],
          'canary_bucket with a NULL salt is the unsalted bucket');
select is(array(select b.cliente_id::text || ':' || b.bucket from canary_buckets(array(select id from vectors order by id)) b),
          array(select id::text || ':' || bucket from vectors order by id),
          'canary_buckets matches every vector without salt, in input order');
select is(array(select b.cliente_id::text || ':' || b.bucket from canary_buckets(array(select id from vectors order by id), :'salt') b),
          array(select id::text || ':' || salted from vectors order by id),
          'canary_buckets matches every vector with the salt, in input order');
select is(canary_bucket(null::uuid), null::integer, 'canary_bucket of a NULL id is NULL');

update feature_flags set value = '{"enabled": true, "percentage": 50, "force_on": []}' where flag_key = 'business_events_canary';
select is(array(select id from vectors where (evaluate_flag('business_events_canary', id) ->> 'bucket')::int is distinct from bucket order by id),
          '{}'::uuid[], 'evaluate_flag reports the vector bucket without salt');
update feature_flags set value = jsonb_build_object('enabled', true, 'percentage', 50, 'force_on', '[]'::jsonb, 'salt', :'salt')
 where flag_key = 'business_events_canary';
select is(array(select id from vectors where (evaluate_flag('business_events_canary', id) ->> 'bucket')::int is distinct from salted order by id),
          '{}'::uuid[], 'evaluate_flag reports the vector bucket with the salt of the flag');

------------------------------------------------------------------------------------------
-- Salt: an independent cohort, the one the salted vectors predict.
select is(array(select id from vectors where is_enabled('business_events_canary', id) order by id),
          array(select id from vectors where salted < 50 order by id), 'a salted flag lets in exactly the ids whose salted bucket is below the percentage');
select isnt(array(select id from vectors where salted < 50 order by id), array(select id from vectors where bucket < 50 order by id),
            'a salt gives a different cohort than no salt');

------------------------------------------------------------------------------------------
-- Evaluation reasons.
update feature_flags set value = '{"enabled": true, "percentage": 2, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"]}'
 where flag_key = 'business_events_canary';
select is(array(select k from jsonb_object_keys(evaluate_flag('business_events_canary', :'low_id')) k order by k),
          array['bucket', 'enabled', 'error_code', 'flag_key', 'percentage', 'phase', 'reason'],
          'evaluate_flag returns flag_key, enabled, reason, error_code, bucket, percentage, phase');
select is(evaluate_flag('business_events_canary', :'low_id') - 'bucket',
          '{"flag_key": "business_events_canary", "enabled": true, "reason": "SPLIT", "error_code": null, "percentage": 2, "phase": "canary_2pct"}'::jsonb,
          'SPLIT: a client whose bucket is below the percentage is in');
select is(evaluate_flag('business_events_canary', :'high_id') ->> 'reason' || '/' || (evaluate_flag('business_events_canary', :'high_id') ->> 'enabled'),
          'SPLIT/false', 'SPLIT: a client whose bucket is not below the percentage is out');
select is(evaluate_flag('business_events_canary', '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b') - 'bucket',
          '{"flag_key": "business_events_canary", "enabled": true, "reason": "TARGETING_MATCH", "error_code": null, "percentage": 2, "phase": "canary_2pct"}'::jsonb,
          'TARGETING_MATCH: a force_on client is in whatever its bucket');
select is(evaluate_flag('business_events_canary', null) ->> 'reason' || '/' || (evaluate_flag('business_events_canary', null) ->> 'error_code')
          || '/' || (evaluate_flag('business_events_canary', null) ->> 'enabled'),
          'ERROR/TARGETING_KEY_MISSING/false', 'a NULL client evaluates to ERROR TARGETING_KEY_MISSING, off');
select is(evaluate_flag('no_such_flag', :'low_id') ->> 'reason' || '/' || (evaluate_flag('no_such_flag', :'low_id') ->> 'error_code')
          || '/' || (evaluate_flag('no_such_flag', :'low_id') ->> 'enabled'),
          'ERROR/FLAG_NOT_FOUND/false', 'an unknown flag evaluates to ERROR FLAG_NOT_FOUND, off');
select is(evaluate_flag(null, :'low_id') ->> 'error_code', 'FLAG_NOT_FOUND', 'a NULL flag key evaluates to FLAG_NOT_FOUND without raising');
update feature_flags set value = '{"enabled": true, "percentage": 100, "force_on": []}' where flag_key = 'business_events_canary';
select is(evaluate_flag('business_events_canary', :'high_id') ->> 'reason' || '/' || (evaluate_flag('business_events_canary', :'high_id') ->> 'enabled'),
          'STATIC/true', 'STATIC: at 100% everyone is in');
insert into feature_flags (flag_key, value) values ('plain_on', 'true'), ('plain_off', 'false');
select is(evaluate_flag('plain_on', :'high_id') ->> 'reason' || '/' || (evaluate_flag('plain_on', :'high_id') ->> 'enabled'),
          'STATIC/true', 'STATIC: a flag whose value is true is on');
select is(evaluate_flag('plain_off', :'high_id') ->> 'reason' || '/' || (evaluate_flag('plain_off', :'high_id') ->> 'enabled'),
          'DISABLED/false', 'DISABLED: a flag whose value is false is off');
update feature_flags set value = '{"enabled": false, "percentage": 100, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"]}'
 where flag_key = 'business_events_canary';
select is(evaluate_flag('business_events_canary', '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b') ->> 'reason'
          || '/' || (evaluate_flag('business_events_canary', '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b') ->> 'enabled')
          || '/' || (evaluate_flag('business_events_canary', '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b') ->> 'phase'),
          'DISABLED/false/disabled', 'DISABLED: "enabled": false turns off even force_on clients, phase disabled');
alter table feature_flags disable trigger feature_flags_before_write;
insert into feature_flags (flag_key, value) values ('broken_canary', '{"enabled": true, "percentage": 150}');
alter table feature_flags enable trigger feature_flags_before_write;
select is(evaluate_flag('broken_canary', :'low_id') ->> 'reason' || '/' || (evaluate_flag('broken_canary', :'low_id') ->> 'error_code')
          || '/' || (evaluate_flag('broken_canary', :'low_id') ->> 'enabled'),
          'ERROR/PARSE_ERROR/false', 'a stored percentage of 150 evaluates to ERROR PARSE_ERROR, off');

------------------------------------------------------------------------------------------
-- Phase names: the seed's _get_phase_name, from evaluate_flag and from get_rollout_status.
update feature_flags set value = '{"enabled": true, "percentage": 2, "force_on": []}' where flag_key = 'business_events_canary';
select is(array(select pg_temp.phase_at(p) from unnest(array[0, 1, 2, 5, 6, 10, 15, 16, 50, 60, 61, 100]) with ordinality as u(p, n) order by n),
          array['disabled/disabled', 'canary_2pct/canary_2pct', 'canary_2pct/canary_2pct', 'canary_2pct/canary_2pct',
                'canary_10pct/canary_10pct', 'canary_10pct/canary_10pct', 'canary_10pct/canary_10pct',
                'canary_50pct/canary_50pct', 'canary_50pct/canary_50pct', 'canary_50pct/canary_50pct',
                'full_rollout/full_rollout', 'full_rollout/full_rollout'],
          'phase names follow the seed at 0, 1, 2, 5, 6, 10, 15, 16, 50, 60, 61 and 100%');
select is(array(select k from jsonb_object_keys(get_rollout_status()) k where k in ('enabled', 'percentage', 'force_on_count', 'phase') order by k),
          array['enabled', 'force_on_count', 'percentage', 'phase'], 'get_rollout_status returns the keys of the seed status');
select throws_ok($$select get_rollout_status('no_such_flag')$$, 'PC002', null, 'get_rollout_status of an unknown flag raises PC002');

------------------------------------------------------------------------------------------
-- is_enabled agrees with evaluate_flag ->> 'enabled' for 1,000 ids and a NULL id, on every
-- branch, including values the validator would refuse (written with it disabled).
create temp table matrix (description text, key text, value jsonb, broken boolean);
insert into matrix values
 ('agreement on true', 'm01', 'true', false),
 ('agreement on false', 'm02', 'false', false),
 ('agreement on the number 2', 'm03', '2', false),
 ('agreement on a string', 'm04', '"on"', false),
 ('agreement on JSON null', 'm05', 'null', false),
 ('agreement on an empty array', 'm06', '[]', false),
 ('agreement on an empty object', 'm07', '{}', false),
 ('agreement on enabled false only', 'm08', '{"enabled": false}', false),
 ('agreement on enabled true only', 'm09', '{"enabled": true}', false),
 ('agreement on percentage 0', 'm10', '{"enabled": true, "percentage": 0}', false),
 ('agreement on percentage 2 with empty force_on', 'm11', '{"enabled": true, "percentage": 2, "force_on": []}', false),
 ('agreement on percentage 50 with force_on', 'm12', '{"enabled": true, "percentage": 50, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b", "f9a07d49-b55c-43b1-b46f-8aa6fefe5d15"]}', false),
 ('agreement on percentage 100', 'm13', '{"enabled": true, "percentage": 100}', false),
 ('agreement on force_on without percentage', 'm14', '{"enabled": true, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"]}', false),
 ('agreement on disabled with force_on at 100', 'm15', '{"enabled": false, "percentage": 100, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"]}', false),
 ('agreement on canary_pct 10', 'm16', '{"enabled": true, "canary_pct": 10}', false),
 ('agreement on a salted 50%', 'm17', '{"enabled": true, "percentage": 50, "salt": "handoff-v1"}', false),
 ('agreement on a null salt', 'm18', '{"enabled": true, "percentage": 50, "salt": null}', false),
 ('agreement on percentage 1e2', 'm19', '{"enabled": true, "percentage": 1e2}', false),
 ('agreement on percentage 50.0 with force_on', 'm20', '{"enabled": true, "percentage": 50.0, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"]}', false),
 ('agreement on broken enabled "yes"', 'm21', '{"enabled": "yes", "percentage": 50}', true),
 ('agreement on broken enabled null', 'm22', '{"enabled": null, "percentage": 50}', true),
 ('agreement on broken percentage 150', 'm23', '{"enabled": true, "percentage": 150}', true),
 ('agreement on broken percentage -1', 'm24', '{"enabled": true, "percentage": -1}', true),
 ('agreement on broken percentage 2.5', 'm25', '{"enabled": true, "percentage": 2.5}', true),
 ('agreement on broken percentage "abc"', 'm26', '{"enabled": true, "percentage": "abc"}', true),
 ('agreement on broken percentage "50"', 'm27', '{"enabled": true, "percentage": "50"}', true),
 ('agreement on broken percentage null with force_on', 'm28', '{"enabled": true, "percentage": null, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"]}', true),
 ('agreement on broken force_on string', 'm29', '{"enabled": true, "percentage": 50, "force_on": "0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"}', true),
 ('agreement on broken force_on items', 'm30', '{"enabled": true, "percentage": 50, "force_on": [123, "not-a-uuid", "0B7E4A5C-1D2E-4F60-9A1B-2C3D4E5F6A7B"]}', true),
 ('agreement on broken salt 5', 'm31', '{"enabled": true, "percentage": 50, "salt": 5}', true),
 ('agreement on broken percentage and canary_pct', 'm32', '{"enabled": true, "percentage": 50, "canary_pct": 10}', true),
 ('agreement on a JSON string holding an object', 'm33', '"{\"enabled\": true, \"percentage\": 100}"', true),
 ('agreement on broken percentage null without force_on', 'm34', '{"enabled": true, "percentage": null}', true);
alter table feature_flags disable trigger feature_flags_before_write;
insert into feature_flags (flag_key, value) select key, value from matrix;
alter table feature_flags enable trigger feature_flags_before_write;
select is((select count(*) from (select id from vectors union all select null) v
           where is_enabled(m.key, v.id) is distinct from (evaluate_flag(m.key, v.id) ->> 'enabled')::boolean),
          0::bigint, m.description)
from matrix m order by m.key;
-- (m30, junk entries inside force_on, is left out: they simply never match a client.)
select is(array(select key from matrix where broken and key not in ('m28', 'm30', 'm32', 'm34')
                and evaluate_flag(key, :'low_id') ->> 'error_code' is distinct from 'PARSE_ERROR' order by key),
          '{}'::text[], 'every broken canary value evaluates to ERROR PARSE_ERROR');
-- A percentage that is null or given twice is refused at write time; stored anyway (an adopted
-- table, a row written before validation), it is bad config and must fail closed.
select is(array(select key || ' ' || (evaluate_flag(key, v.id) ->> 'reason') from matrix, vectors v
                where key in ('m28', 'm32', 'm34') and v.id <> '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b' and is_enabled(key, v.id)
                group by key, evaluate_flag(key, v.id) ->> 'reason' order by 1),
          '{}'::text[], 'a stored percentage that is null or given twice lets nobody in by bucket');
select is(array(select key || ' ' || value::text from matrix
                where jsonb_typeof(value) = 'object' and value ?| array['percentage', 'canary_pct', 'force_on', 'salt']
                  and pg_temp.accepted('business_events_canary', value)
                  and evaluate_flag(key, :'low_id') ->> 'reason' = 'ERROR' order by key),
          '{}'::text[], 'a canary value the validator accepts never evaluates to ERROR');

------------------------------------------------------------------------------------------
-- Cohorts are monotonic: raising the percentage only adds clients, lowering it removes the
-- highest buckets, and each cohort is exactly the ids whose bucket is below the percentage.
update feature_flags set value = '{"enabled": true, "percentage": 2, "force_on": []}' where flag_key = 'business_events_canary';
create temp table cohorts as select p, pg_temp.cohort_at(p) as ids from unnest(array[2, 10, 50, 100]) p;
select is(array(select c.p from cohorts c where c.ids is distinct from array(select id from vectors where bucket < c.p order by id) order by c.p),
          '{}'::int[], 'the cohort at 2, 10, 50 and 100% is exactly the ids whose bucket is below the percentage');
select cmp_ok(cardinality((select ids from cohorts where p = 2)), '>', 0, 'the 2% cohort of the vectors is not empty');
select is(cardinality((select ids from cohorts where p = 100)), (select count(*)::int from vectors), 'at 100% every vector id is in');
select is(array(select a.p || '->' || b.p from cohorts a join cohorts b on a.p < b.p where not a.ids <@ b.ids order by 1),
          '{}'::text[], 'everyone in at 2% is in at 10%, 50% and 100% (and 10% within 50%, 50% within 100%)');
select is(pg_temp.cohort_at(10), (select ids from cohorts where p = 10), 'lowering from 100% to 10% gives back the same 10% cohort');

------------------------------------------------------------------------------------------
-- force_on: normalised, and an allowlisted client is in whatever its bucket.
update feature_flags set value = '{"enabled": true, "percentage": 2, "force_on": ["0B7E4A5C-1D2E-4F60-9A1B-2C3D4E5F6A7B", "0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b", "{0b7e4a5c1d2e4f609a1b2c3d4e5f6a7b}", "5ff5b707-b599-41ac-bbda-caa54d3bdeb9"]}'
 where flag_key = 'business_events_canary';
select is((select value -> 'force_on' from feature_flags where flag_key = 'business_events_canary'),
          '["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b", "5ff5b707-b599-41ac-bbda-caa54d3bdeb9"]'::jsonb,
          'force_on is stored lowercase, hyphenated and without duplicates');
select ok(is_enabled('business_events_canary', '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b')
          and canary_bucket('0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b') >= 2, 'force_on lets in a client whose bucket is out at 2%');

------------------------------------------------------------------------------------------
-- Allowlist RPCs.
update feature_flags set value = '{"enabled": true, "percentage": 2, "force_on": []}' where flag_key = 'business_events_canary';
select is(add_to_allowlist(:'high_id'), true, 'add_to_allowlist returns true when it adds the client');
select ok(is_enabled('business_events_canary', :'high_id'), 'an added client is in on the next call');
select pg_temp.flag_state('business_events_canary') as before \gset
select is(add_to_allowlist(:'high_id'), false, 'add_to_allowlist returns false when the client is already there');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a repeated add_to_allowlist changes nothing and writes no audit row');
select is(remove_from_allowlist(:'high_id'), true, 'remove_from_allowlist returns true when it removes the client');
select ok(not is_enabled('business_events_canary', :'high_id'), 'a removed client is out on the next call');
select is(remove_from_allowlist(:'high_id'), false, 'remove_from_allowlist returns false when the client is absent');
select pg_temp.flag_state('business_events_canary') as before \gset
select throws_ok($$select add_to_allowlist('0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', 'no_such_flag')$$, 'PC002', null, 'add_to_allowlist on an unknown flag raises PC002');
select throws_ok($$select remove_from_allowlist('0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', 'no_such_flag')$$, 'PC002', null, 'remove_from_allowlist on an unknown flag raises PC002');
select throws_ok($$select add_to_allowlist(null)$$, 'PC003', null, 'add_to_allowlist of a NULL client raises PC003');
select throws_ok($$select remove_from_allowlist(null)$$, 'PC003', null, 'remove_from_allowlist of a NULL client raises PC003');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'refused allowlist calls change nothing');
select is(pg_temp.flag_state('no_such_flag'), regexp_replace(:'before', '^.* \| ', '<no row> | '), 'refused allowlist calls create no flag');
-- An on-for-everyone flag has no percentage, so no allowlist: adding force_on would make it
-- "allowlist only" and switch everyone else off. The call is refused and everyone stays in.
insert into feature_flags (flag_key, value) values ('new_inbox', '{"enabled": true}');
select throws_ok($$select add_to_allowlist('0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', 'new_inbox')$$, 'PC003', null,
                 'add_to_allowlist on an on-for-everyone flag raises PC003');
select is((select count(*) from vectors where is_enabled('new_inbox', id)), (select count(*) from vectors),
          'add_to_allowlist on an on-for-everyone flag keeps everyone in');
-- A flag whose value is not an object has no allowlist: saying "already there" would be a silent no-op.
select throws_ok($$select add_to_allowlist('0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', 'plain_on')$$, 'PC003', null,
                 'add_to_allowlist on a flag that is not a canary object raises PC003');

------------------------------------------------------------------------------------------
-- Kill switch: off on the next call, percentage kept, resume gives back the same cohort.
update feature_flags set value = '{"enabled": true, "percentage": 50, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"]}' where flag_key = 'business_events_canary';
create temp table before_kill as select array(select id from vectors where is_enabled('business_events_canary', id) order by id) as ids;
select is(kill_flag('business_events_canary', 'incident 7') ->> 'enabled', 'false', 'kill_flag returns the status with enabled false');
select is((select count(*) from vectors where is_enabled('business_events_canary', id)), 0::bigint, 'after kill_flag nobody is in on the next call');
select ok(not is_enabled('business_events_canary', '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b'), 'after kill_flag a force_on client is out too');
select is(evaluate_flag('business_events_canary', :'low_id') ->> 'reason', 'DISABLED', 'a killed flag evaluates to DISABLED');
select is(get_rollout_status() -> 'percentage', '50'::jsonb, 'kill_flag keeps the percentage');
select is(resume_flag('business_events_canary', 'fixed') ->> 'enabled', 'true', 'resume_flag returns the status with enabled true');
select is(array(select id from vectors where is_enabled('business_events_canary', id) order by id), (select ids from before_kill),
          'resume_flag restores the same cohort on the next call');
select throws_ok($$select kill_flag('no_such_flag', 'x')$$, 'PC002', null, 'kill_flag on an unknown flag raises PC002');
select throws_ok($$select kill_flag('business_events_canary', '')$$, 'PC003', null, 'kill_flag without a reason raises PC003');

------------------------------------------------------------------------------------------
-- should_emit_event and the seed's emergency switch (Story 8.4), verbatim.
update feature_flags set value = '{"enabled": true, "percentage": 100, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"]}' where flag_key = 'business_events_canary';
select is((select count(*) from vectors where should_emit_event(id, 'message_sent')), (select count(*) from vectors),
          'should_emit_event is true for everyone at 100% with the master switch on');
select is(pg_temp.rows_affected($$UPDATE feature_flags SET value = 'false' WHERE flag_key = 'business_events_enabled'$$), 1::bigint,
          'seed emergency UPDATE hits the business_events_enabled row');
select is((select count(*) from vectors where should_emit_event(id, 'message_sent')), 0::bigint,
          'after the emergency UPDATE should_emit_event is false for everyone on the next call');
select ok(not should_emit_event('0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', 'message_sent'), 'the emergency switch also stops force_on clients');
select is(pg_temp.rows_affected($$UPDATE feature_flags SET value = 'true' WHERE flag_key = 'business_events_enabled'$$), 1::bigint,
          'seed re-enable UPDATE hits the business_events_enabled row');
select is((select count(*) from vectors where should_emit_event(id, 'message_sent')), (select count(*) from vectors),
          'after the re-enable UPDATE should_emit_event is true again');
update feature_flags set value = '{"enabled": true, "percentage": 10, "force_on": []}' where flag_key = 'business_events_canary';
select is(array(select id from vectors where should_emit_event(id, 'message_sent') order by id),
          array(select id from vectors where bucket < 10 order by id), 'should_emit_event follows the business_events_canary cohort');

------------------------------------------------------------------------------------------
-- The seed's percentage commands on business_events_rollout_pct (Story 8.4), verbatim.
update feature_flags set value = '{"enabled": true, "percentage": 2, "force_on": []}' where flag_key = 'business_events_canary';
select is(pg_temp.rows_affected($$UPDATE feature_flags SET value = '10' WHERE flag_key = 'business_events_rollout_pct';$$), 1::bigint,
          'seed UPDATE of business_events_rollout_pct to 10 hits a row');
select is(get_rollout_status() ->> 'percentage' || '/' || (get_rollout_status() ->> 'phase'), '10/canary_10pct',
          'seed UPDATE to 10 sets business_events_canary to 10%');
select is(array(select id from vectors where is_enabled('business_events_canary', id) order by id),
          array(select id from vectors where bucket < 10 order by id), 'after the seed UPDATE to 10 the 10% cohort is in');
select pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('business_events_rollout_pct') as before \gset
select throws_ok($$UPDATE feature_flags SET value = '150' WHERE flag_key = 'business_events_rollout_pct'$$, 'PC001', null,
                 'seed UPDATE with 150 fails with PC001');
select is(pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('business_events_rollout_pct'), :'before',
          'a refused business_events_rollout_pct of 150 changes nothing');
select is(array(select pg_temp.seed_pct_command(p) from unnest(array['2', '50', '100']) with ordinality as u(p, n) order by n),
          array['1:2', '1:50', '1:100'], 'seed UPDATEs to 2, 50 and 100 each set the canary percentage');
select set_rollout_percentage('business_events_canary', 50, 'back to 50') \g /dev/null
select is((select value from feature_flags where flag_key = 'business_events_rollout_pct'), '50'::jsonb,
          'set_rollout_percentage keeps business_events_rollout_pct in step');

------------------------------------------------------------------------------------------
-- Bad writes: refused with PC001, a message naming the key and the value, a hint, and
-- nothing changed (value identical, no audit row).
update feature_flags set value = '{"enabled": true, "percentage": 2, "force_on": []}' where flag_key = 'business_events_canary';
select pg_temp.flag_state('business_events_canary') as before \gset

\set bad 'UPDATE feature_flags SET value = ''{"enabled": true, "percentage": 150, "force_on": []}'' WHERE flag_key = ''business_events_canary'''
select throws_ok(:'bad', 'PC001', null, 'percentage 150 is refused with PC001');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a refused percentage 150 changes nothing');
select matches(pg_temp.message_and_hint(:'bad'), 'business_events_canary.*percentage.*150.* // hint: [^<]', 'the error for percentage 150 names key and value and hints');

\set bad 'UPDATE feature_flags SET value = ''{"enabled": true, "percentage": -1, "force_on": []}'' WHERE flag_key = ''business_events_canary'''
select throws_ok(:'bad', 'PC001', null, 'percentage -1 is refused with PC001');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a refused percentage -1 changes nothing');
select matches(pg_temp.message_and_hint(:'bad'), 'business_events_canary.*percentage.*-1.* // hint: [^<]', 'the error for percentage -1 names key and value and hints');

\set bad 'UPDATE feature_flags SET value = ''{"enabled": true, "percentage": 2.5, "force_on": []}'' WHERE flag_key = ''business_events_canary'''
select throws_ok(:'bad', 'PC001', null, 'percentage 2.5 is refused with PC001');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a refused percentage 2.5 changes nothing');
select matches(pg_temp.message_and_hint(:'bad'), 'business_events_canary.*percentage.*2\.5.* // hint: [^<]', 'the error for percentage 2.5 names key and value and hints');

\set bad 'UPDATE feature_flags SET value = ''{"enabled": true, "percentage": "abc", "force_on": []}'' WHERE flag_key = ''business_events_canary'''
select throws_ok(:'bad', 'PC001', null, 'percentage "abc" is refused with PC001');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a refused percentage "abc" changes nothing');
select matches(pg_temp.message_and_hint(:'bad'), 'business_events_canary.*percentage.*abc.* // hint: [^<]', 'the error for percentage "abc" names key and value and hints');

\set bad 'UPDATE feature_flags SET value = ''{"enabled": true, "percentage": 2, "force_on": "0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"}'' WHERE flag_key = ''business_events_canary'''
select throws_ok(:'bad', 'PC001', null, 'force_on that is not an array is refused with PC001');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a refused force_on string changes nothing');
select matches(pg_temp.message_and_hint(:'bad'), 'business_events_canary.*force_on.*0b7e4a5c.* // hint: [^<]', 'the error for a force_on string names key and value and hints');

\set bad 'UPDATE feature_flags SET value = ''{"enabled": true, "percentage": 2, "force_on": ["0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b", "cliente-42"]}'' WHERE flag_key = ''business_events_canary'''
select throws_ok(:'bad', 'PC001', null, 'a non-UUID in force_on is refused with PC001');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a refused non-UUID in force_on changes nothing');
select matches(pg_temp.message_and_hint(:'bad'), 'business_events_canary.*force_on.*cliente-42.* // hint: [^<]', 'the error for a non-UUID in force_on names key and value and hints');

\set bad 'UPDATE feature_flags SET value = ''{"enabled": "yes", "percentage": 2, "force_on": []}'' WHERE flag_key = ''business_events_canary'''
select throws_ok(:'bad', 'PC001', null, 'enabled "yes" is refused with PC001');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a refused enabled "yes" changes nothing');
select matches(pg_temp.message_and_hint(:'bad'), 'business_events_canary.*enabled.*yes.* // hint: [^<]', 'the error for enabled "yes" names key and value and hints');

\set bad 'UPDATE feature_flags SET value = ''{"enabled": true, "percentage": 2, "canary_pct": 2, "force_on": []}'' WHERE flag_key = ''business_events_canary'''
select throws_ok(:'bad', 'PC001', null, 'percentage together with canary_pct is refused with PC001');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a refused percentage with canary_pct changes nothing');
select matches(pg_temp.message_and_hint(:'bad'), 'business_events_canary.*(percentage.*canary_pct|canary_pct.*percentage).* // hint: [^<]', 'the error for percentage with canary_pct names both keys and hints');

\set bad 'UPDATE feature_flags SET value = ''{"enabled": true, "percentage": 2, "force_on": [], "salt": 5}'' WHERE flag_key = ''business_events_canary'''
select throws_ok(:'bad', 'PC001', null, 'salt 5 is refused with PC001');
select is(pg_temp.flag_state('business_events_canary'), :'before', 'a refused salt 5 changes nothing');
select matches(pg_temp.message_and_hint(:'bad'), 'business_events_canary.*salt.*5.* // hint: [^<]', 'the error for salt 5 names key and value and hints');

\set bad 'INSERT INTO feature_flags (flag_key, value) VALUES (''checkout_canary'', ''{"enabled": true, "percentage": 150}'')'
select throws_ok(:'bad', 'PC001', null, 'inserting a new canary flag at 150% is refused with PC001');
select is(pg_temp.flag_state('checkout_canary'), regexp_replace(:'before', '^.* \| ', '<no row> | '), 'a refused INSERT of a canary flag creates no row and no audit row');

------------------------------------------------------------------------------------------
-- Other flags hold any JSON, as the seed's procedure writes them.
select lives_ok($$INSERT INTO feature_flags (flag_key, value) VALUES ('seed_flag_true', 'true'), ('seed_flag_two', '2'), ('seed_flag_object', '{"enabled": false}')$$,
                'flags that are not canary flags accept true, 2 and {"enabled": false}');
select is(array(select value::text from feature_flags where flag_key in ('seed_flag_true', 'seed_flag_two', 'seed_flag_object') order by flag_key),
          array['{"enabled": false}', 'true', '2'], 'flags that are not canary flags store their JSON unchanged');

------------------------------------------------------------------------------------------
-- The handoff flag's canary_pct.
insert into feature_flags (flag_key, value) values ('external_handoff', '{"enabled": true, "canary_pct": 10}')
    on conflict (flag_key) do update set value = excluded.value;  -- a later migration may seed it
select is(evaluate_flag('external_handoff', :'low_id') ->> 'percentage', '10', 'canary_pct is the percentage of the handoff flag');
select set_rollout_percentage('external_handoff', 50, 'handoff to 50') \g /dev/null
select is((select value from feature_flags where flag_key = 'external_handoff'), '{"enabled": true, "canary_pct": 50}'::jsonb,
          'set_rollout_percentage writes canary_pct on a flag that uses it');

------------------------------------------------------------------------------------------
-- set_rollout_percentage: bad input refused, nothing changed.
select pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('plain_on') as before \gset
select throws_ok($$select set_rollout_percentage('business_events_canary', 101, 'too far')$$, 'PC003', null, 'set_rollout_percentage 101 raises PC003');
select is(pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('plain_on'), :'before', 'after the refused call set_rollout_percentage 101 nothing changed');
select throws_ok($$select set_rollout_percentage('business_events_canary', -1, 'negative')$$, 'PC003', null, 'set_rollout_percentage -1 raises PC003');
select is(pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('plain_on'), :'before', 'after the refused call set_rollout_percentage -1 nothing changed');
select throws_ok($$select set_rollout_percentage('business_events_canary', null, 'nothing')$$, 'PC003', null, 'set_rollout_percentage NULL raises PC003');
select is(pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('plain_on'), :'before', 'after the refused call set_rollout_percentage NULL nothing changed');
select throws_ok($$select set_rollout_percentage('business_events_canary', 10, '')$$, 'PC003', null, 'set_rollout_percentage with an empty reason raises PC003');
select is(pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('plain_on'), :'before', 'after the refused call set_rollout_percentage with an empty reason nothing changed');
select throws_ok($$select set_rollout_percentage('business_events_canary', 10, '   ')$$, 'PC003', null, 'set_rollout_percentage with a blank reason raises PC003');
select is(pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('plain_on'), :'before', 'after the refused call set_rollout_percentage with a blank reason nothing changed');
select throws_ok($$select set_rollout_percentage('business_events_canary', 10, null)$$, 'PC003', null, 'set_rollout_percentage with a NULL reason raises PC003');
select is(pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('plain_on'), :'before', 'after the refused call set_rollout_percentage with a NULL reason nothing changed');
select throws_ok($$select set_rollout_percentage('no_such_flag', 10, 'why not')$$, 'PC002', null, 'set_rollout_percentage on an unknown flag raises PC002');
select is(pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('plain_on'), :'before', 'after the refused call set_rollout_percentage on an unknown flag nothing changed');
select throws_ok($$select set_rollout_percentage('plain_on', 10, 'not a canary')$$, 'PC003', null, 'set_rollout_percentage on a boolean flag raises PC003');
select is(pg_temp.flag_state('business_events_canary') || ' | ' || pg_temp.flag_state('plain_on'), :'before', 'after the refused call set_rollout_percentage on a boolean flag nothing changed');
select is(pg_temp.flag_state('no_such_flag'), regexp_replace(pg_temp.flag_state('business_events_canary'), '^.* \| ', '<no row> | '), 'set_rollout_percentage on an unknown flag creates no row');

------------------------------------------------------------------------------------------
-- Audit trail: one row per change, actor from JWT claims, else pgcanary.actor, else current_user.
select set_config('pgcanary.reason', '', true) \g /dev/null
select set_config('pgcanary.actor', '', true) \g /dev/null
select coalesce(max(audit_id), 0) as a0 from feature_flag_audit \gset
set local role service_role;
select set_config('request.jwt.claims', '{"sub":"u-1","role":"service_role"}', true) \g /dev/null
select set_rollout_percentage(flag_key => 'business_events_canary', percentage => 10, reason => 'phase 2 after 2 stable days') \g /dev/null
reset role;
select is((select count(*) from feature_flag_audit where audit_id > :a0 and flag_key = 'business_events_canary'), 1::bigint,
          'set_rollout_percentage writes one audit row for the flag');
select is((select jsonb_build_object('operation', operation, 'old', old_value -> 'percentage', 'new', new_value -> 'percentage', 'actor', actor, 'reason', reason)
           from feature_flag_audit where audit_id > :a0 and flag_key = 'business_events_canary'),
          '{"operation": "UPDATE", "old": 2, "new": 10, "actor": "u-1", "reason": "phase 2 after 2 stable days"}'::jsonb,
          'the audit row of an RPC holds old and new values, the JWT sub as actor, and the reason');
select is((select updated_by from feature_flags where flag_key = 'business_events_canary'), 'u-1', 'updated_by is the JWT actor');
select is((select count(*) from feature_flag_audit where audit_id > :a0 and flag_key = 'business_events_rollout_pct' and actor = 'u-1'), 1::bigint,
          'the alias row business_events_rollout_pct moving in step is audited too');

select coalesce(max(audit_id), 0) as a0 from feature_flag_audit \gset
select set_config('request.jwt.claims', '', true) \g /dev/null
select set_config('pgcanary.actor', 'ops-alice', true) \g /dev/null
select set_config('pgcanary.reason', 'manual fix in the SQL Editor', true) \g /dev/null
update feature_flags set value = '{"enabled": true, "percentage": 50, "force_on": []}' where flag_key = 'business_events_canary';
select is((select jsonb_build_object('old', old_value -> 'percentage', 'new', new_value -> 'percentage', 'actor', actor, 'reason', reason)
           from feature_flag_audit where audit_id > :a0 and flag_key = 'business_events_canary'),
          '{"old": 10, "new": 50, "actor": "ops-alice", "reason": "manual fix in the SQL Editor"}'::jsonb,
          'a raw UPDATE is audited with the pgcanary.actor setting when there are no JWT claims');

select coalesce(max(audit_id), 0) as a0 from feature_flag_audit \gset
select set_config('pgcanary.actor', '', true) \g /dev/null
select set_config('pgcanary.reason', '', true) \g /dev/null
update feature_flags set value = 'false' where flag_key = 'plain_on';
select is((select actor from feature_flag_audit where audit_id > :a0 and flag_key = 'plain_on'), current_user::text,
          'without JWT claims or pgcanary.actor the actor is current_user');

select set_config('request.jwt.claims', 'not json', true) \g /dev/null
select lives_ok($$update feature_flags set value = 'true' where flag_key = 'plain_on'$$, 'unreadable JWT claims do not block an audited write');
select set_config('request.jwt.claims', '', true) \g /dev/null

select count(*) as n0 from feature_flag_audit \gset
update feature_flags set value = value where flag_key = 'business_events_canary';
update feature_flags set value = '{"enabled": true, "force_on": [], "percentage": 50}' where flag_key = 'business_events_canary';
select is((select count(*) from feature_flag_audit), :n0::bigint, 'an UPDATE that changes nothing writes no audit row');

select coalesce(max(audit_id), 0) as a0 from feature_flag_audit \gset
insert into feature_flags (flag_key, value, description) values ('short_lived', '{"enabled": true}', 'created to be deleted');
delete from feature_flags where flag_key = 'short_lived';
select is(array(select operation || ' ' || coalesce(old_value::text, '-') || ' -> ' || coalesce(new_value::text, '-')
                from feature_flag_audit where audit_id > :a0 and flag_key = 'short_lived' order by audit_id),
          array['INSERT - -> {"enabled": true}', 'DELETE {"enabled": true} -> -'], 'INSERT and DELETE are audited with their values');

-- A reason given to an RPC belongs to that RPC's change, not to the next change in the transaction.
select kill_flag('business_events_canary', 'incident 8') \g /dev/null
select coalesce(max(audit_id), 0) as a0 from feature_flag_audit \gset
update feature_flags set value = 'true' where flag_key = 'plain_off';
select is((select reason from feature_flag_audit where audit_id > :a0 and flag_key = 'plain_off'), null,
          'a later raw UPDATE in the same transaction does not inherit the reason of an RPC');
select resume_flag('business_events_canary', 'end of incident 8') \g /dev/null

------------------------------------------------------------------------------------------
-- Volatility tells PostgREST the verb: reads are GET (read-only transaction), writes POST.
select is(array(select proname::text from pg_proc where pronamespace = 'public'::regnamespace
                and proname in ('canary_bucket', 'canary_buckets', 'evaluate_flag', 'is_enabled', 'should_emit_event', 'get_rollout_status')
                and provolatile = 'v' order by 1), '{}'::text[], 'the read RPCs are not VOLATILE');
select is(array(select proname::text from pg_proc where pronamespace = 'public'::regnamespace
                and proname in ('set_rollout_percentage', 'kill_flag', 'resume_flag', 'add_to_allowlist', 'remove_from_allowlist')
                and provolatile <> 'v' order by 1), '{}'::text[], 'the write RPCs are VOLATILE');

------------------------------------------------------------------------------------------
-- The RPCs as PostgREST calls them: SET LOCAL ROLE, request.jwt.claims, named arguments.
update feature_flags set value = '{"enabled": true, "percentage": 10, "force_on": []}' where flag_key = 'business_events_canary';
set local role service_role;
select set_config('request.jwt.claims', '{"sub":"u-1","role":"service_role"}', true) \g /dev/null
select lives_ok($$select canary_bucket(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', salt => 'handoff-v1')$$, 'service_role calls canary_bucket with named arguments');
select lives_ok($$select * from canary_buckets(cliente_ids => array['0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b']::uuid[], salt => null)$$, 'service_role calls canary_buckets with named arguments');
select lives_ok($$select evaluate_flag(flag_key => 'business_events_canary', cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b')$$, 'service_role calls evaluate_flag with named arguments');
select lives_ok($$select is_enabled(flag_key => 'business_events_canary', cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b')$$, 'service_role calls is_enabled with named arguments');
select lives_ok($$select should_emit_event(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', event_type => 'message_sent')$$, 'service_role calls should_emit_event with named arguments');
select lives_ok($$select get_rollout_status(flag_key => 'business_events_canary')$$, 'service_role calls get_rollout_status with named arguments');
select lives_ok($$select set_rollout_percentage(flag_key => 'business_events_canary', percentage => 10, reason => 'rpc test')$$, 'service_role calls set_rollout_percentage with named arguments');
select lives_ok($$select kill_flag(flag_key => 'business_events_canary', reason => 'rpc test')$$, 'service_role calls kill_flag with named arguments');
select lives_ok($$select resume_flag(flag_key => 'business_events_canary', reason => 'rpc test')$$, 'service_role calls resume_flag with named arguments');
select lives_ok($$select add_to_allowlist(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', flag_key => 'business_events_canary')$$, 'service_role calls add_to_allowlist with named arguments');
select lives_ok($$select remove_from_allowlist(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', flag_key => 'business_events_canary')$$, 'service_role calls remove_from_allowlist with named arguments');
select is(evaluate_flag(flag_key => 'business_events_canary', cliente_id => :'low_id') ->> 'reason', 'SPLIT', 'as service_role evaluate_flag gives the same answer');
select throws_ok($$insert into feature_flag_audit (flag_key, operation, actor) values ('business_events_canary', 'UPDATE', 'forger')$$, '42501', null,
                 'service_role cannot insert into feature_flag_audit');
select throws_ok($$update feature_flag_audit set actor = 'forger'$$, '42501', null, 'service_role cannot update feature_flag_audit');
select throws_ok($$delete from feature_flag_audit$$, '42501', null, 'service_role cannot delete from feature_flag_audit');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true) \g /dev/null
select throws_ok($$select canary_bucket(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', salt => 'handoff-v1')$$, '42501', null, 'anon cannot call canary_bucket for one id');
select throws_ok($$select * from canary_buckets(cliente_ids => array['0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b']::uuid[], salt => null)$$, '42501', null, 'anon cannot call canary_buckets for a batch');
select throws_ok($$select evaluate_flag(flag_key => 'business_events_canary', cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b')$$, '42501', null, 'anon cannot call evaluate_flag');
select throws_ok($$select is_enabled(flag_key => 'business_events_canary', cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b')$$, '42501', null, 'anon cannot call is_enabled');
select throws_ok($$select should_emit_event(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', event_type => 'message_sent')$$, '42501', null, 'anon cannot call should_emit_event');
select throws_ok($$select get_rollout_status(flag_key => 'business_events_canary')$$, '42501', null, 'anon cannot call get_rollout_status');
select throws_ok($$select set_rollout_percentage(flag_key => 'business_events_canary', percentage => 100, reason => 'anon')$$, '42501', null, 'anon cannot call set_rollout_percentage');
select throws_ok($$select kill_flag(flag_key => 'business_events_canary', reason => 'anon')$$, '42501', null, 'anon cannot call kill_flag');
select throws_ok($$select resume_flag(flag_key => 'business_events_canary', reason => 'anon')$$, '42501', null, 'anon cannot call resume_flag');
select throws_ok($$select add_to_allowlist(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', flag_key => 'business_events_canary')$$, '42501', null, 'anon cannot call add_to_allowlist');
select throws_ok($$select remove_from_allowlist(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', flag_key => 'business_events_canary')$$, '42501', null, 'anon cannot call remove_from_allowlist');
select throws_ok($$update feature_flags set value = 'false' where flag_key = 'business_events_enabled'$$, '42501', null, 'anon cannot update feature_flags');
reset role;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"user-9","role":"authenticated"}', true) \g /dev/null
select throws_ok($$select canary_bucket(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', salt => 'handoff-v1')$$, '42501', null, 'authenticated cannot call canary_bucket for one id');
select throws_ok($$select * from canary_buckets(cliente_ids => array['0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b']::uuid[], salt => null)$$, '42501', null, 'authenticated cannot call canary_buckets for a batch');
select throws_ok($$select evaluate_flag(flag_key => 'business_events_canary', cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b')$$, '42501', null, 'authenticated cannot call evaluate_flag');
select throws_ok($$select is_enabled(flag_key => 'business_events_canary', cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b')$$, '42501', null, 'authenticated cannot call is_enabled');
select throws_ok($$select should_emit_event(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', event_type => 'message_sent')$$, '42501', null, 'authenticated cannot call should_emit_event');
select throws_ok($$select get_rollout_status(flag_key => 'business_events_canary')$$, '42501', null, 'authenticated cannot call get_rollout_status');
select throws_ok($$select set_rollout_percentage(flag_key => 'business_events_canary', percentage => 100, reason => 'user')$$, '42501', null, 'authenticated cannot call set_rollout_percentage');
select throws_ok($$select kill_flag(flag_key => 'business_events_canary', reason => 'user')$$, '42501', null, 'authenticated cannot call kill_flag');
select throws_ok($$select resume_flag(flag_key => 'business_events_canary', reason => 'user')$$, '42501', null, 'authenticated cannot call resume_flag');
select throws_ok($$select add_to_allowlist(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', flag_key => 'business_events_canary')$$, '42501', null, 'authenticated cannot call add_to_allowlist');
select throws_ok($$select remove_from_allowlist(cliente_id => '0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b', flag_key => 'business_events_canary')$$, '42501', null, 'authenticated cannot call remove_from_allowlist');
select throws_ok($$update feature_flags set value = 'false' where flag_key = 'business_events_enabled'$$, '42501', null, 'authenticated cannot update feature_flags');
reset role;
select is((select value from feature_flags where flag_key = 'business_events_canary'), '{"enabled": true, "percentage": 10, "force_on": []}'::jsonb,
          'the refused anon and authenticated calls changed nothing');

select * from finish();
rollback;
