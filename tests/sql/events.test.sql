-- Business events (functions/events.sql, docs/events.md): registry, emission under the
-- rollout, the record_event contract, bad input, PII on every write path, the generic
-- trigger, the seed's Q1-Q5 verbatim, rollout metrics with and without the rollup,
-- partitions and retention, and the RPC contract as PostgREST calls it.
begin;
select plan(152);

-- This file tests the flag's mechanics, not its rollout gate: without its plan,
-- set_rollout_percentage may raise business_events_canary (governance.test.sql tests PC082).
delete from public.rollout_plans where flag_key = 'business_events_canary';

-- A clean slate inside this transaction (rolled back at the end).
delete from public.business_events;
delete from pgcanary_private.business_event_hourly;
delete from pgcanary_private.business_event_late;
update pgcanary_private.business_event_rollup_state set sealed_until = null, refreshed_at = null;

-- SQLSTATE and hint of a statement, or 'ok'.
create function pg_temp.err(q text) returns text language plpgsql as $$
declare s text; h text;
begin
    execute q;
    return 'ok';
exception when others then
    get stacked diagnostics s = returned_sqlstate, h = pg_exception_hint;
    return s || ' ' || coalesce(h, '');
end $$;

-- Runs a statement as a role, the way PostgREST does (role + JWT claims), returning its
-- first value as text or 'ERROR <sqlstate>'.
create function pg_temp.as_role(r text, q text) returns text language plpgsql as $$
declare res text;
begin
    perform set_config('role', r, true);
    perform set_config('request.jwt.claims', json_build_object('role', r, 'sub', 'test-' || r)::text, true);
    begin
        execute q into res;
        res := coalesce(res, 'null');
    exception when others then
        get stacked diagnostics res = returned_sqlstate;
        res := 'ERROR ' || res;
    end;
    perform set_config('role', 'none', true);
    perform set_config('request.jwt.claims', '', true);
    return res;
end $$;

create function pg_temp.n() returns bigint language sql as $$ select count(*) from public.business_events $$;

------------------------------------------------------------------------------------------
-- Schema and registry
select has_table('public', 'business_events', 'business_events exists');
select is((select relkind::text from pg_class where oid = 'public.business_events'::regclass), 'p',
          'business_events is partitioned');
select is((select pg_get_partkeydef('public.business_events'::regclass)), 'RANGE (ts)', 'partitioned by range of ts');
select columns_are('public', 'business_events',
                   array['event_id', 'ts', 'event_type', 'cliente_id', 'conversation_id', 'event_props', 'source'],
                   'business_events has the seed''s columns plus source');
select col_type_is('public', 'business_events', 'event_id', 'uuid', 'event_id is a uuid');
select is((select array_agg(a.attname::text order by k.n)
           from pg_constraint c, unnest(c.conkey) with ordinality k(att, n)
           join pg_attribute a on a.attrelid = 'public.business_events'::regclass and a.attnum = k.att
           where c.conrelid = 'public.business_events'::regclass and c.contype = 'p'),
          array['event_id', 'ts'], 'the key is (event_id, ts)');
select is(array(select e from unnest(array['outbound_blocked', 'outbound_bypass', 'outbound_fallback', 'outbound_sent',
                    'outbound_unknown_outcome', 'outbound_failed', 'handoff_opened', 'handoff_confirmed', 'handoff_closed',
                    'opt_out', 'opt_in', 'guard_action']) e
                where not exists (select from public.business_event_types t where t.event_type = e)),
          '{}'::text[], 'the registry holds every type other capabilities use');
select cmp_ok((select count(*) from public.business_event_types where category = 'funnel'), '>=', 4::bigint,
              'the registry holds funnel types');
select ok(public.register_event_type('test_funnel_step', 'funnel', 'a step for this test'), 'register_event_type registers a new type');
select ok(not public.register_event_type('test_funnel_step', 'funnel', 'reworded'), 'registering again updates and returns false');
select is(pg_temp.err($$select public.register_event_type('Bad-Name', 'funnel', 'x')$$) like 'PC011 %', true,
          'register_event_type refuses a bad name with PC011');
select is(pg_temp.err($$select public.register_event_type('fine_name', 'funnel', '  ')$$) like 'PC011 %', true,
          'register_event_type refuses an empty description with PC011');

------------------------------------------------------------------------------------------
-- record_event: the contract for guardrails and the outbox. Always writes.
update public.feature_flags set value = 'false' where flag_key = 'business_events_enabled';
select isnt(pgcanary_private.record_event('outbound_blocked', 'c0000000-0000-4000-8000-000000000001', null,
                                          '{"block_reason": "opted_out"}', 'guardrails'), null,
            'record_event writes even with the master switch off');
select is((select source from public.business_events where event_type = 'outbound_blocked'), 'guardrails',
          'record_event keeps the caller''s source');
select ok((select ts > now() and ts <= clock_timestamp() from public.business_events where event_type = 'outbound_blocked'),
          'record_event stamps the moment it wrote the row (clock_timestamp), not the transaction start');
select isnt(pgcanary_private.record_event('opt_in', null, null, null, null), null, 'record_event accepts NULL props and source');
select is((select source || ' ' || event_props::text from public.business_events where event_type = 'opt_in'), 'backend {}',
          'record_event defaults: NULL props become {}, NULL source becomes backend');
update public.feature_flags set value = 'true' where flag_key = 'business_events_enabled';
delete from public.business_events;

------------------------------------------------------------------------------------------
-- emit_event under the rollout
select set_rollout_percentage('business_events_canary', 0, 'events test');
select isnt(public.emit_event('conversation_started'), null, 'an event without cliente_id is emitted whatever the rollout');
select is(public.emit_event('conversation_started', 'c0000000-0000-4000-8000-000000000002'), null,
          'at 0% an event with a cliente_id is skipped: NULL');
select is(pg_temp.n(), 1::bigint, 'a skipped event writes nothing');
select set_rollout_percentage('business_events_canary', 100, 'events test');
select isnt(public.emit_event('conversation_started', 'c0000000-0000-4000-8000-000000000002',
                              'd0000000-0000-4000-8000-000000000002', '{"method": "reply"}'), null,
            'at 100% the event is emitted and its id returned');
select is((select row(cliente_id, conversation_id, event_props, source)::text from public.business_events
           where cliente_id = 'c0000000-0000-4000-8000-000000000002'),
          row('c0000000-0000-4000-8000-000000000002'::uuid, 'd0000000-0000-4000-8000-000000000002'::uuid,
              '{"method": "reply"}'::jsonb, 'backend')::text, 'the emitted row holds what was passed, source backend');
select set_rollout_percentage('business_events_canary', 0, 'events test');
select add_to_allowlist('c0000000-0000-4000-8000-000000000003');
select isnt(public.emit_event('conversation_started', 'c0000000-0000-4000-8000-000000000003'), null,
            'an allowlisted client is emitted at 0%');
select set_rollout_percentage('business_events_canary', 100, 'events test');
update public.feature_flags set value = 'false' where flag_key = 'business_events_enabled';
select is(public.emit_event('conversation_started', 'c0000000-0000-4000-8000-000000000003'), null,
          'the seed''s emergency UPDATE (business_events_enabled = false) stops emission on the next call');
update public.feature_flags set value = 'true' where flag_key = 'business_events_enabled';

create temp table gate_before as select refreshed_at from pgcanary_private.business_event_gate;
update public.feature_flags set value = value where flag_key = 'pausar_julia';
select is((select refreshed_at from pgcanary_private.business_event_gate), (select refreshed_at from gate_before),
          'a write to another flag leaves the gate row unwritten');
-- emit_events: ids in input order, NULL where skipped, the same decision as should_emit_event.
select set_rollout_percentage('business_events_canary', 50, 'events test');
create temp table clients as select md5('events-test-' || g)::uuid as id, g from generate_series(1, 1000) g;
select is((select array_agg(x is not null order by n)
           from unnest(public.emit_events((select jsonb_agg(jsonb_build_object('event_type', 'offer_made', 'cliente_id', id) order by g) from clients)))
                with ordinality u(x, n)),
          (select array_agg(public.should_emit_event(id, 'offer_made') order by g) from clients),
          'emit_events skips exactly the clients should_emit_event skips, in input order');
select is((select count(*) from public.business_events where event_type = 'offer_made'),
          (select count(*) filter (where public.should_emit_event(id, 'offer_made')) from clients),
          'emit_events wrote one row per emitted id');

-- The batch and emit_event read the rollout themselves and decide inline: they must agree with should_emit_event
-- for every kind of flag value, valid or not (the write-time validation is switched off
-- inside this transaction to store the invalid ones).
alter table public.feature_flags disable trigger feature_flags_before_write;
alter table public.feature_flags disable trigger feature_flags_sync_alias;
create function pg_temp.gate_disagreements() returns text[] language plpgsql as $$
declare
    cfg record;
    bad text[] := '{}';
    batch jsonb := (select jsonb_agg(jsonb_build_object('event_type', 'offer_made', 'cliente_id', id) order by g) from clients);
    allow text := (select jsonb_agg(id::text) from (select id from clients order by g limit 7) s)::text;
begin
    for cfg in select * from (values
        ('true', '{"enabled": true, "percentage": 0}'), ('true', '{"enabled": true, "percentage": 2}'),
        ('true', '{"enabled": true, "percentage": 37, "salt": "s1"}'), ('true', '{"enabled": true, "percentage": 100}'),
        ('true', '{"enabled": false, "percentage": 50}'), ('true', '{"enabled": true, "canary_pct": 30}'),
        ('true', '{"enabled": true, "percentage": 10, "force_on": ' || allow || '}'),
        ('true', '{"enabled": true, "force_on": ' || allow || '}'), ('true', '{"enabled": true}'),
        ('true', '{"enabled": true, "percentage": null}'), ('true', '{"enabled": true, "percentage": 50.0}'),
        ('true', '{"enabled": true, "percentage": 20, "canary_pct": 60}'),
        ('false', '{"enabled": true, "percentage": 50}'), ('{"enabled": false}', '{"enabled": true, "percentage": 50}'),
        ('{"enabled": true}', '{"enabled": true, "percentage": 50}'), ('"x"', '{"enabled": true, "percentage": 50}'),
        ('true', '{"enabled": true, "percentage": 150}'), ('true', '{"enabled": true, "percentage": 12.5}'),
        ('true', '{"enabled": "yes", "percentage": 50}'), ('true', '{"enabled": true, "percentage": "50"}'),
        ('true', '{"enabled": true, "percentage": 50, "force_on": "x"}'), ('true', '{"enabled": true, "percentage": 50, "salt": 5}'),
        ('true', 'true'), ('true', 'false'), ('true', '"str"'), ('true', '[1]')) as c(master, canary)
    loop
        update public.feature_flags set value = cfg.master::jsonb where flag_key = 'business_events_enabled';
        update public.feature_flags set value = cfg.canary::jsonb where flag_key = 'business_events_canary';
        if (select array_agg(x is not null order by n) from unnest(public.emit_events(batch)) with ordinality u(x, n))
           is distinct from (select array_agg(public.should_emit_event(id, 'offer_made') order by g) from clients) then
            bad := bad || ('emit_events: ' || cfg.master || ' / ' || cfg.canary);
        end if;
        if (select array_agg(public.emit_event('offer_made', id) is not null order by g) from clients)
           is distinct from (select array_agg(public.should_emit_event(id, 'offer_made') order by g) from clients) then
            bad := bad || ('emit_event: ' || cfg.master || ' / ' || cfg.canary);
        end if;
    end loop;
    return bad;
end $$;
select is(pg_temp.gate_disagreements(), '{}'::text[],
          'emit_events, emit_event and should_emit_event agree under 26 flag values (valid, invalid, master off)');
alter table public.feature_flags enable trigger feature_flags_before_write;
alter table public.feature_flags enable trigger feature_flags_sync_alias;
update public.feature_flags set value = 'true' where flag_key = 'business_events_enabled';
update public.feature_flags set value = '{"enabled": true, "percentage": 100, "force_on": []}' where flag_key = 'business_events_canary';
delete from public.business_events;

------------------------------------------------------------------------------------------
-- Bad input: refused with our SQLSTATE, nothing written. Each path.
select throws_ok($$select public.emit_event('no_such_type')$$, 'PC010', 'unknown event type "no_such_type"',
                 'emit_event refuses an unknown type with PC010');
select is(pg_temp.err($$select public.emit_event('no_such_type')$$) like 'PC010 Register it first: SELECT register_event_type(''no_such_type''%', true,
          'the PC010 hint says how to register the type');
select set_rollout_percentage('business_events_canary', 0, 'events test');
select throws_ok($$select public.emit_event('no_such_type', 'c0000000-0000-4000-8000-000000000009')$$, 'PC010', null,
                 'an unknown type is refused even when the rollout would skip the event');
select throws_ok($$select public.emit_event('opt_in', 'c0000000-0000-4000-8000-000000000009', null, '[1, 2]')$$, 'PC011', null,
                 'props that are not an object are refused even when the rollout would skip the event');
select set_rollout_percentage('business_events_canary', 100, 'events test');
select throws_ok($$select public.emit_event(null)$$, 'PC011', 'event_type is required', 'emit_event refuses a NULL type with PC011');
select throws_ok($$select public.emit_event('opt_in', null, null, '[]')$$, 'PC011', 'event_props must be a JSON object, got a JSON array',
                 'emit_event refuses array props with PC011');
select throws_ok($$select public.emit_event('opt_in', null, null, '"text"')$$, 'PC011', null, 'emit_event refuses string props with PC011');
select throws_ok($$select public.emit_event('opt_in', null, null, 'null')$$, 'PC011', null, 'emit_event refuses JSON null props with PC011');
select throws_ok($$select public.emit_event(event_type => 'opt_in', cliente_id => 'not-a-uuid')$$, '22P02', null,
                 'a non-UUID cliente_id is refused at the RPC boundary');
select throws_ok($$select public.emit_event('opt_in', null, null, jsonb_build_object('blob', repeat('x', 9000)))$$, 'PC012', null,
                 'emit_event refuses props over 8 KiB with PC012');
select lives_ok($$select public.emit_event('opt_in', null, null, jsonb_build_object('blob', repeat('x', 8000)))$$,
                'props just under the limit are accepted');
delete from public.business_events;
select throws_ok($$select pgcanary_private.record_event('no_such_type', null, null, '{}', 'guardrails')$$, 'PC010', null,
                 'record_event refuses an unknown type with PC010');
select throws_ok($$insert into public.business_events (event_type) values ('no_such_type')$$, 'PC010', null,
                 'a raw INSERT of an unknown type is refused with PC010');
select throws_ok($$insert into public.business_events (event_type, event_props) values ('opt_in', '[1]')$$, 'PC011', null,
                 'a raw INSERT of array props is refused with PC011');
select throws_ok($$insert into public.business_events (event_type) values (null)$$, 'PC011', null,
                 'a raw INSERT without a type is refused with PC011');
select throws_ok($$insert into public.business_events (event_type, source) values ('opt_in', '')$$, 'PC011',
                 'source must be 1 to 63 characters, got 0 characters', 'a raw INSERT with an empty source is refused with PC011');
select throws_ok($$insert into public.business_events (event_type, source) values ('opt_in', repeat('s', 64))$$, 'PC011', null,
                 'a raw INSERT with a 64-character source is refused with PC011');
select throws_ok($$do $b$ begin insert into public.business_events (event_type) values ('opt_in');
                                  update public.business_events set source = ''; end $b$ $$, 'PC011', null,
                 'an UPDATE to an empty source is refused with PC011');
select throws_ok($$select public.emit_events('{"event_type": "opt_in"}')$$, 'PC011', 'events must be a JSON array of event objects, got a JSON object',
                 'emit_events refuses a non-array with PC011');
select throws_ok($$select public.emit_events(null)$$, 'PC011', null, 'emit_events refuses NULL with PC011');
select throws_ok($$select public.emit_events('[{"event_type": "opt_in"}, {"event_type": "nope"}]')$$, 'PC010', 'events[2]: unknown event type "nope"',
                 'emit_events names the element with an unknown type');
select throws_ok($$select public.emit_events('[{"event_type": "opt_in"}, {"event_type": "opt_in", "cliente_id": "abc"}]')$$, 'PC011',
                 'events[2] has a cliente_id that is not a UUID', 'emit_events names the element with a non-UUID cliente_id');
select throws_ok($$select public.emit_events('[{"event_type": "opt_in", "conversation_id": 42}]')$$, 'PC011',
                 'events[1] has a conversation_id that is not a UUID', 'emit_events refuses a number as conversation_id');
select throws_ok($$select public.emit_events('[{"event_type": "opt_in"}, 7]')$$, 'PC011', 'events[2] is not a JSON object',
                 'emit_events refuses an element that is not an object');
select throws_ok($$select public.emit_events('[{"cliente_id": null}]')$$, 'PC011', 'events[1] has no event_type string',
                 'emit_events refuses an element without event_type');
select throws_ok($$select public.emit_events('[{"event_type": "opt_in", "event_props": [1]}]')$$, 'PC011',
                 'events[1] has event_props that are not a JSON object', 'emit_events refuses array props');
select throws_ok($$select public.emit_events(jsonb_build_array(jsonb_build_object('event_type', 'opt_in', 'event_props', jsonb_build_object('b', repeat('x', 9000)))))$$,
                 'PC012', null, 'emit_events refuses oversized props with PC012');
select is(pg_temp.n(), 0::bigint, 'none of the refused calls wrote a row');
select is(public.emit_events('[]'), '{}'::uuid[], 'an empty batch is fine and writes nothing');

------------------------------------------------------------------------------------------
-- No PII: every write path, every shape. Each test phone holds the digits 98765.
select is(pgcanary_private.scrub_pii('{"telefone": "+55 (11) 98765-4321", "channel": "whatsapp"}'),
          '{"channel": "whatsapp", "telefone_prefix": "5511"}', 'telefone key: only its first 4 digits remain, as telefone_prefix');
select is(pgcanary_private.scrub_pii('{"phone": 5511987654321}'), '{"telefone_prefix": "5511"}', 'a phone stored as a JSON number');
select is(pgcanary_private.scrub_pii('{"Telefone": "11987654321"}'), '{"telefone_prefix": "5511"}', 'key case does not matter (a national number gets its country code: one phone identity)');
select is(pgcanary_private.scrub_pii('{"phoneNumber": "+5511987654321"}'), '{"telefone_prefix": "5511"}', 'camelCase keys are phone keys');
select is(pgcanary_private.scrub_pii('{"telefone_prefix": "5511987654321"}'), '{"telefone_prefix": "5511"}',
          'a full number passed as telefone_prefix is cut too');
select is(pgcanary_private.scrub_pii('{"telefone": "98765"}'), '{"telefone_prefix": "9876"}', 'a short number under a phone key is cut');
select is(pgcanary_private.scrub_pii('{"contato": "+55 11 98765 4321"}'), '{"telefone_prefix": "5511"}',
          'a phone-looking value under any key is removed');
select is(pgcanary_private.scrub_pii('{"remoteJid": "5511987654321@s.whatsapp.net"}'), '{"telefone_prefix": "5511"}',
          'a WhatsApp JID is a phone');
select is(pgcanary_private.scrub_pii('{"from": "5511987654321@c.us", "x": 1}'), '{"x": 1, "telefone_prefix": "5511"}',
          'a JID under any key is a phone');
select is(pgcanary_private.scrub_pii('{"cliente": {"celular": "(11) 98765-4321", "nome_len": 5}}'),
          '{"cliente": {"nome_len": 5, "telefone_prefix": "5511"}}', 'nested objects are scrubbed');
select is(pgcanary_private.scrub_pii('{"a": {"b": {"c": ["x", "+55 11 98765-4321"]}}}'), '{"a": {"b": {"c": ["x", "5511"]}}}',
          'a phone inside an array, three levels down, becomes its prefix');
select is(pgcanary_private.scrub_pii('{"telefones": ["+5511987654321", "+5521987654321"]}'), '{"telefones": ["5511", "5521"]}',
          'a list of phones keeps only prefixes');
select is(pgcanary_private.scrub_pii('{"whatsapp": {"numero": "987654321", "ativo": true}}'),
          '{"whatsapp": {"ativo": true, "telefone_prefix": "9876"}}', 'everything that is a string or number under a phone key is a phone');
select is(pgcanary_private.scrub_pii('{"cliente_id": "6f1c7d2e-9a3b-4c5d-8e7f-0a1b2c3d4e5f", "vaga_id": "12345678-1234-4123-8123-123456789012", "at": "2025-12-29 10:00:00", "day": "2025-12-29", "n": 42, "channel": "whatsapp", "whatsapp": true, "ok": null}'),
          '{"n": 42, "at": "2025-12-29 10:00:00", "ok": null, "day": "2025-12-29", "channel": "whatsapp", "vaga_id": "12345678-1234-4123-8123-123456789012", "whatsapp": true, "cliente_id": "6f1c7d2e-9a3b-4c5d-8e7f-0a1b2c3d4e5f"}',
          'UUIDs, dates, small numbers, booleans and the word whatsapp are kept');
select is(pgcanary_private.scrub_pii(pgcanary_private.scrub_pii('{"telefone": "+5511987654321", "a": {"phone": "11987654321"}}')),
          pgcanary_private.scrub_pii('{"telefone": "+5511987654321", "a": {"phone": "11987654321"}}'), 'scrubbing is idempotent');
-- Every phone key of the walk is seen by the fast pre-test (a key it missed would skip the walk).
select is(array(select k from unnest(string_to_array(substring(pg_get_functiondef('pgcanary_private.scrub_pii_walk(jsonb, boolean)'::regprocedure)
                                                     from 'phone_keys constant text\[\] := ARRAY\[([^]]*)\]'), ',')) raw,
                     lateral (select btrim(btrim(raw), E'\n ''') as k) x
                where k <> 'telefone_prefix'  -- an already scrubbed prefix is let through: see the next assertion
                  and (pgcanary_private.scrub_pii(jsonb_build_object(k, '12')) <> '{"telefone_prefix": "12"}'
                   or pgcanary_private.scrub_pii(jsonb_build_object(upper(k), '12')) <> '{"telefone_prefix": "12"}')),
          '{}'::text[], 'the fast pre-test lets every phone key through to the walk');
select is(pgcanary_private.scrub_pii('{"telefone_prefix": "551198", "a": {"TELEFONE_PREFIX": "5511987"}}'),
          '{"a": {"telefone_prefix": "5511"}, "telefone_prefix": "5511"}',
          'a telefone_prefix longer than 4 digits is still cut to 4 at any depth');
-- U+0130 and U+212A are lowered to i and k by glibc: such keys must reach the walk, which
-- decides by lower(key) under the database's own rules.
select is(array(select k from unnest(array['mob' || U&'\0130' || 'le', 'wa_' || U&'\0130' || 'd', 'remote_j' || U&'\0130' || 'd', U&'\212A' || 'ey']) k
                where pgcanary_private.props_pii_free(jsonb_build_object(k, '98765'))),
          '{}'::text[], 'keys with letters lower() maps into a-z are not taken for clean');
select is(pgcanary_private.scrub_pii('{"telefone_prefix": "5511", "block_reason": "opted_out"}'),
          '{"telefone_prefix": "5511", "block_reason": "opted_out"}', 'a scrubbed telefone_prefix passes the fast path unchanged');
-- One rule, one place: the writers call scrub_pii and hold no copy of its fast test.
select is(array(select f from unnest(array['public.emit_event(text, uuid, uuid, jsonb)', 'public.emit_events(jsonb)',
                                           'pgcanary_private.record_event(text, uuid, uuid, jsonb, text)']) f
                where strpos((select prosrc from pg_proc where oid = f::regprocedure), 'pgcanary_private.scrub_pii(props)') = 0
                   or strpos((select prosrc from pg_proc where oid = f::regprocedure), '?|') > 0),
          '{}'::text[], 'emit_event, emit_events and record_event call scrub_pii and hold no copy of its test');
select is((select array_agg(p.oid::regprocedure::text order by p.proname) from pg_proc p
           where p.proowner = 'pgcanary_writer'::regrole and p.prosecdef),
          array['emit_event(text,uuid,uuid,jsonb)', 'emit_events(jsonb)', 'pgcanary_private.record_event(text,uuid,uuid,jsonb,text)'],
          'exactly the three writers run as pgcanary_writer');
select is((select row(r.rolcanlogin, r.rolsuper, r.rolbypassrls,
                      exists (select from pg_auth_members m where m.roleid = r.oid))::text
           from pg_roles r where r.rolname = 'pgcanary_writer')
          || ' ' || (select substring(pg_get_triggerdef(t.oid) from 'WHEN \((.*)\) EXECUTE') from pg_trigger t
                     where t.tgrelid = 'public.business_events'::regclass and t.tgname = 'business_events_before_insert'),
          '(f,f,f,f) (CURRENT_USER <> ''pgcanary_writer''::name)',
          'pgcanary_writer cannot log in nor bypass RLS, no role is its member (migrate only borrows it), and its rows are the only ones the insert trigger lets through');

-- The paths. Each writes a phone; afterwards no stored props hold its digits.
select public.emit_event('outbound_fallback', null, null, '{"function": "legacy_send", "telefone": "+55 11 98765-4321"}');
select public.emit_events('[{"event_type": "outbound_fallback", "event_props": {"function": "batch", "phone": "5511987654321"}}]');
select pgcanary_private.record_event('outbound_blocked', null, null, '{"block_reason": "opted_out", "cliente": {"celular": "11987654321"}}', 'guardrails');
insert into public.business_events (event_type, event_props) values ('opt_out', '{"contato": "5511987654321@s.whatsapp.net"}');
select is((select count(*) from public.business_events where event_props::text like '%98765%'), 0::bigint,
          'no write path (emit_event, emit_events, record_event, raw INSERT) stores the phone');
select is((select array_agg(event_props ->> 'telefone_prefix' order by event_props ->> 'function')
           from public.business_events where event_type = 'outbound_fallback'), array['5511', '5511'],
          'emit_event and emit_events store telefone_prefix');
select is((select event_props #>> '{cliente,telefone_prefix}' from public.business_events where source = 'guardrails'), '5511',
          'record_event scrubs nested props');
update public.business_events set event_props = '{"telefone": "+55 11 98765-4321"}' where event_type = 'opt_out';
select is((select event_props from public.business_events where event_type = 'opt_out'), '{"telefone_prefix": "5511"}',
          'a raw UPDATE is scrubbed too');
delete from public.business_events;

------------------------------------------------------------------------------------------
-- The generic trigger on a sample table: always active, column mapping, PII, misconfiguration.
create table public.test_handoffs (
    id          bigint generated always as identity primary key,
    vaga_id     uuid not null,
    medico_id   uuid,
    conversa_id uuid,
    status      text not null default 'open',
    telefone    text
);
create trigger handoff_opened_event after insert on public.test_handoffs for each row
    execute function pgcanary_private.emit_event_trigger('handoff_opened', 'cliente_id=medico_id', 'conversation_id=conversa_id',
                                                         'props=vaga_id,status,telefone');
create trigger handoff_confirmed_event after update on public.test_handoffs for each row
    when (old.status is distinct from new.status and new.status = 'confirmed')
    execute function pgcanary_private.emit_event_trigger('handoff_confirmed', 'cliente_id=medico_id', 'props=vaga_id');
update public.feature_flags set value = 'false' where flag_key = 'business_events_enabled';
insert into public.test_handoffs (vaga_id, medico_id, conversa_id, telefone)
values ('a0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001',
        '+55 11 98765-4321');
select is((select row(event_type, cliente_id, conversation_id, source, event_props)::text from public.business_events),
          row('handoff_opened', 'c0000000-0000-4000-8000-000000000001'::uuid, 'd0000000-0000-4000-8000-000000000001'::uuid, 'trigger',
              '{"status": "open", "vaga_id": "a0000000-0000-4000-8000-000000000001", "operation": "insert", "source_table": "public.test_handoffs", "telefone_prefix": "5511"}'::jsonb)::text,
          'the trigger maps columns, adds operation and source_table, scrubs the phone, and ignores the rollout (master off)');
update public.test_handoffs set status = 'seen';
select is((select count(*) from public.business_events), 1::bigint, 'the WHEN clause filters updates');
update public.test_handoffs set status = 'confirmed';
select is((select event_props from public.business_events where event_type = 'handoff_confirmed'),
          '{"vaga_id": "a0000000-0000-4000-8000-000000000001", "operation": "update", "source_table": "public.test_handoffs"}',
          'an update trigger writes its own event type');
update public.feature_flags set value = 'true' where flag_key = 'business_events_enabled';
-- A role that holds no grant on business_events still gets its rows' events (SECURITY DEFINER).
grant insert, select on public.test_handoffs to authenticated;
select is(pg_temp.as_role('authenticated', $$insert into public.test_handoffs (vaga_id) values ('a0000000-0000-4000-8000-000000000002') returning id::text$$) ~ '^[0-9]+$',
          true, 'a writer without privileges on business_events can write the table');
select is((select count(*) from public.business_events where event_props ->> 'vaga_id' = 'a0000000-0000-4000-8000-000000000002'), 1::bigint,
          'and its event is recorded');
select is(pg_temp.as_role('authenticated', $$select count(*)::text from public.business_events$$), 'ERROR 42501',
          'that writer still cannot read business_events');
-- Misconfigurations raise on the first write.
create table public.test_misconfigured (id int, who uuid, label text);
create trigger t1 after insert on public.test_misconfigured for each row
    execute function pgcanary_private.emit_event_trigger('opt_in', 'cliente_id=nobody');
select throws_ok($$insert into public.test_misconfigured values (1, null, 'x')$$, 'PC013', 'emit_event_trigger on public.test_misconfigured: column "nobody" does not exist',
                 'a mapped column that does not exist raises PC013');
drop trigger t1 on public.test_misconfigured;
create trigger t2 after insert on public.test_misconfigured for each row
    execute function pgcanary_private.emit_event_trigger('opt_in', 'client=who');
select throws_ok($$insert into public.test_misconfigured values (1, null, 'x')$$, 'PC013', null, 'an unknown argument name raises PC013');
drop trigger t2 on public.test_misconfigured;
create trigger t3 after insert on public.test_misconfigured for each row
    execute function pgcanary_private.emit_event_trigger('opt_in', 'cliente_id=label');
select throws_ok($$insert into public.test_misconfigured values (1, null, 'x')$$, 'PC013', null, 'a non-UUID column mapped to cliente_id raises PC013');
drop trigger t3 on public.test_misconfigured;
create trigger t4 after insert on public.test_misconfigured for each row
    execute function pgcanary_private.emit_event_trigger('not_registered');
select throws_ok($$insert into public.test_misconfigured values (1, null, 'x')$$, 'PC010', null, 'an unregistered type raises PC010');
drop trigger t4 on public.test_misconfigured;
create trigger t5 after insert on public.test_misconfigured for each statement
    execute function pgcanary_private.emit_event_trigger('opt_in');
select throws_ok($$insert into public.test_misconfigured values (1, null, 'x')$$, 'PC013', null, 'a statement-level trigger raises PC013');
drop trigger t5 on public.test_misconfigured;
create trigger t6 after insert on public.test_misconfigured for each row
    execute function pgcanary_private.emit_event_trigger('opt_in', 'cliente_id=who', 'props=label');
select lives_ok($$insert into public.test_misconfigured values (1, 'c0000000-0000-4000-8000-000000000005', repeat('y', 9000))$$,
                'oversized mapped props do not block the write');
select is((select event_props ->> 'props_dropped' from public.business_events where cliente_id = 'c0000000-0000-4000-8000-000000000005'),
          'too_large', 'they are replaced by a marker');
delete from public.business_events;

------------------------------------------------------------------------------------------
-- The seed's queries (002_f93b842773890ad2.txt, Q1-Q5), verbatim, on known data.
create temp table seed_rows (event_type text, cliente_id uuid, conversation_id uuid, event_props jsonb, age interval);
insert into seed_rows values
  ('outbound_blocked', 'c0000000-0000-4000-8000-000000000001', null, '{"block_reason": "opted_out", "channel": "whatsapp", "method": "campaign"}', '1 hour'),
  ('outbound_blocked', 'c0000000-0000-4000-8000-000000000002', null, '{"block_reason": "opted_out", "channel": "whatsapp", "method": "campaign"}', '2 hours'),
  ('outbound_blocked', 'c0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', '{"block_reason": "rate_limited", "channel": "whatsapp", "method": "reply", "inbound_interaction_id": "i-1"}', '3 hours'),
  ('outbound_blocked', 'c0000000-0000-4000-8000-000000000003', null, '{"block_reason": "outside_business_hours", "channel": "whatsapp", "method": "reply"}', '30 minutes'),
  ('outbound_bypass',  'c0000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000002', '{"block_reason": "rate_limited", "bypass_reason": "incident-42", "channel": "whatsapp", "method": "reply"}', '10 minutes'),
  ('outbound_blocked', 'c0000000-0000-4000-8000-000000000004', null, '{"block_reason": "provider_error", "channel": "whatsapp", "method": "campaign"}', '1 hour'),
  ('outbound_blocked', 'c0000000-0000-4000-8000-000000000004', null, '{"block_reason": "provider_error", "channel": "whatsapp", "method": "campaign"}', '5 hours'),
  ('outbound_blocked', 'c0000000-0000-4000-8000-000000000005', null, '{"block_reason": "timeout", "channel": "whatsapp", "method": "followup"}', '5 hours'),
  ('outbound_fallback', null, null, '{"function": "legacy_send", "telefone": "+55 11 98765-4321"}', '20 minutes'),
  ('outbound_sent',    'c0000000-0000-4000-8000-000000000001', null, '{"method": "campaign"}', '1 hour'),
  ('outbound_sent',    'c0000000-0000-4000-8000-000000000002', null, '{"method": "campaign"}', '1 hour'),
  ('outbound_blocked', 'c0000000-0000-4000-8000-000000000001', null, '{"block_reason": "opted_out", "channel": "whatsapp", "method": "campaign"}', '30 hours');
insert into public.business_events (ts, event_type, cliente_id, conversation_id, event_props, source)
select now() - age, event_type, cliente_id, conversation_id, event_props, 'guardrails' from seed_rows;

select set_eq($q$
SELECT
    event_type,
    COUNT(*) as total,
    COUNT(DISTINCT cliente_id) as clientes_unicos
FROM business_events
WHERE ts >= NOW() - INTERVAL '24 hours'
GROUP BY event_type
ORDER BY total DESC;
$q$, $e$ VALUES ('outbound_blocked', 7::bigint, 5::bigint), ('outbound_bypass', 1, 1), ('outbound_fallback', 1, 0), ('outbound_sent', 2, 2) $e$,
'seed Q1 (volume by type, 24 h) runs verbatim');

select set_eq($q$
SELECT
    event_type,
    event_props->>'block_reason' as razao,
    event_props->>'channel' as canal,
    event_props->>'method' as metodo,
    COUNT(*) as total
FROM business_events
WHERE event_type IN ('outbound_blocked', 'outbound_bypass')
  AND ts >= NOW() - INTERVAL '24 hours'
GROUP BY 1, 2, 3, 4
ORDER BY total DESC;
$q$, $e$ VALUES ('outbound_blocked', 'opted_out', 'whatsapp', 'campaign', 2::bigint),
                ('outbound_blocked', 'rate_limited', 'whatsapp', 'reply', 1),
                ('outbound_blocked', 'outside_business_hours', 'whatsapp', 'reply', 1),
                ('outbound_blocked', 'provider_error', 'whatsapp', 'campaign', 2),
                ('outbound_blocked', 'timeout', 'whatsapp', 'followup', 1),
                ('outbound_bypass', 'rate_limited', 'whatsapp', 'reply', 1) $e$,
'seed Q2 (blocked and bypass by reason) runs verbatim');

select results_eq($q$
SELECT
    ts,
    cliente_id,
    conversation_id,
    event_props->>'inbound_interaction_id' as inbound_id,
    event_props->>'block_reason' as razao
FROM business_events
WHERE event_type IN ('outbound_blocked', 'outbound_bypass')
  AND event_props->>'method' = 'reply'
  AND (
      event_props->>'inbound_interaction_id' IS NULL
      OR conversation_id IS NULL
  )
  AND ts >= NOW() - INTERVAL '24 hours'
ORDER BY ts DESC
LIMIT 20;
$q$, $e$ VALUES (now() - interval '10 minutes', 'c0000000-0000-4000-8000-000000000002'::uuid, 'd0000000-0000-4000-8000-000000000002'::uuid, null::text, 'rate_limited'),
                (now() - interval '30 minutes', 'c0000000-0000-4000-8000-000000000003'::uuid, null::uuid, null::text, 'outside_business_hours') $e$,
'seed Q3 (replies without inbound proof) runs verbatim, newest first');

select set_eq($q$
SELECT
    DATE_TRUNC('hour', ts) as hora,
    event_props->>'block_reason' as razao,
    COUNT(*) as total
FROM business_events
WHERE event_type = 'outbound_blocked'
  AND event_props->>'block_reason' IN ('provider_error', 'timeout', 'circuit_open')
  AND ts >= NOW() - INTERVAL '24 hours'
GROUP BY 1, 2
ORDER BY 1 DESC;
$q$, $e$ VALUES (date_trunc('hour', now() - interval '1 hour'), 'provider_error', 1::bigint),
                (date_trunc('hour', now() - interval '5 hours'), 'provider_error', 1::bigint),
                (date_trunc('hour', now() - interval '5 hours'), 'timeout', 1::bigint) $e$,
'seed Q4 (provider errors by hour) runs verbatim');

select results_eq($q$
SELECT
    ts,
    event_props->>'function' as funcao,
    event_props->>'telefone_prefix' as telefone_prefix
FROM business_events
WHERE event_type = 'outbound_fallback'
  AND ts >= NOW() - INTERVAL '24 hours'
ORDER BY ts DESC;
$q$, $e$ VALUES (now() - interval '20 minutes', 'legacy_send', '5511') $e$,
'seed Q5 (legacy fallbacks) runs verbatim and finds telefone_prefix');

------------------------------------------------------------------------------------------
-- Rollout metrics: they always equal Q1's counts, whether the hourly rollup is empty, fresh,
-- or behind backdated and future rows.
create function pg_temp.truth() returns jsonb language sql as $$
    select jsonb_build_object('events_by_type_24h', coalesce(jsonb_object_agg(event_type, n), '{}'),
                              'events_24h', coalesce(sum(n), 0),
                              'events_last_hour', (select count(*) from public.business_events where ts >= now() - interval '1 hour'))
    from (select event_type, count(*) as n from public.business_events where ts >= now() - interval '24 hours' group by 1) s
$$;
create function pg_temp.metrics() returns jsonb language sql as $$
    select jsonb_build_object('events_by_type_24h', s -> 'events_by_type_24h', 'events_24h', s -> 'events_24h',
                              'events_last_hour', s -> 'events_last_hour')
    from public.get_rollout_status('business_events_canary') s
$$;
select is(pg_temp.metrics(), pg_temp.truth(), 'metrics equal Q1 without a rollup');
select is((pg_temp.truth() ->> 'events_24h')::int, 11, 'the old row is outside the window (sanity)');
select is(public.refresh_event_rollup() ->> 'refreshed', 'true', 'refresh_event_rollup runs');
select cmp_ok((select count(*) from pgcanary_private.business_event_hourly), '>', 0::bigint, 'the rollup holds closed hours');
select is(pg_temp.metrics(), pg_temp.truth(), 'metrics equal Q1 with a fresh rollup');
insert into public.business_events (ts, event_type) values (now() - interval '6 hours', 'opt_out'), (now() - interval '23 hours', 'opt_out');
select is(pg_temp.metrics(), pg_temp.truth(), 'metrics count backdated rows of sealed hours');
insert into public.business_events (ts, event_type) values (now() - interval '25 hours', 'opt_out'), (now() + interval '2 hours', 'opt_in');
select is(pg_temp.metrics(), pg_temp.truth(), 'metrics ignore rows before the window and count future ones, as Q1 does');
select is(public.refresh_event_rollup() ->> 'refreshed', 'true', 'a second refresh runs');
select is(pg_temp.metrics(), pg_temp.truth(), 'metrics equal Q1 after the second refresh (no double count)');
select ok(not (select s ? 'rollout_pct' from public.get_rollout_status('business_events_canary') s),
          'the status has no rollout_pct key (the seed''s report bug)');
select ok((select s ?& array['phase', 'percentage', 'enabled', 'events_last_hour', 'events_by_type_24h'] from public.get_rollout_status() s),
          'get_rollout_status returns phase, percentage, enabled, events_last_hour and counts by type');
select ok(not (select s ? 'events_last_hour' from public.get_rollout_status('business_events_rollout_pct') s),
          'other flags'' status carries no event metrics');
select is((select r - 'generated_at' from public.get_rollout_report() r),
          (select jsonb_build_object('flag_key', 'business_events_canary', 'phase', s -> 'phase', 'percentage', s -> 'percentage',
                                     'enabled', s -> 'enabled', 'force_on_count', s -> 'force_on_count',
                                     'events_last_hour', s -> 'events_last_hour', 'events_24h', s -> 'events_24h',
                                     'counts_24h', s -> 'events_by_type_24h')
           from public.get_rollout_status() s),
          'get_rollout_report returns the Slack report''s data');
select is((public.get_rollout_report() -> 'counts_24h' ->> 'outbound_blocked')::int, 7, 'the report counts by type over 24 h');

------------------------------------------------------------------------------------------
-- Partitions and retention.
create function pg_temp.day(n int) returns date language sql as $$ select (now() at time zone 'UTC')::date + n $$;
create function pg_temp.part(n int) returns text language sql as $$ select 'business_events_p' || to_char(pg_temp.day(n), 'YYYYMMDD') $$;
select is((select count(*) from generate_series(-1, 7) d where to_regclass('pgcanary_private.' || pg_temp.part(d)) is not null), 9::bigint,
          'migrate made the partitions from yesterday to a week ahead');
select is((select tableoid::regclass::text from public.business_events where ts = now() - interval '10 minutes'),
          'pgcanary_private.' || pg_temp.part(((now() - interval '10 minutes') at time zone 'UTC')::date - pg_temp.day(0)),
          'a row lands in its day''s partition');
select is(public.maintain_event_partitions(10, 30) -> 'created',
          jsonb_build_array(pg_temp.part(8), pg_temp.part(9), pg_temp.part(10)), 'maintenance makes the missing days ahead');
select is(public.maintain_event_partitions(10, 30) -> 'created', '[]', 'maintenance is idempotent');
select is((select bool_and(c.relrowsecurity) and bool_and(coalesce(c.relacl::text, '') not like '%service_role%')
           from pg_class c where c.oid = ('pgcanary_private.' || pg_temp.part(10))::regclass), true,
          'a new partition has RLS on and no grants');
select is(pgcanary_private.create_event_partition(pg_temp.day(-40)), pg_temp.part(-40), 'an old day''s partition can be made (backfill)');
insert into public.business_events (ts, event_type) values ((pg_temp.day(-40) + time '12:00') at time zone 'UTC', 'opt_in');
select is(public.maintain_event_partitions(7, 30) -> 'dropped', jsonb_build_array(pg_temp.part(-40)), 'days older than retain_days are dropped');
select is((select count(*) from public.business_events where ts < now() - interval '39 days'), 0::bigint, 'and their rows are gone');
select is((select count(*) from generate_series(-1, 7) d where to_regclass('pgcanary_private.' || pg_temp.part(d)) is not null), 9::bigint,
          'recent partitions are kept');
insert into public.business_events (ts, event_type) values ((pg_temp.day(20) + time '08:00') at time zone 'UTC', 'opt_in');
select is((select tableoid::regclass::text from public.business_events where ts > now() + interval '19 days'),
          'pgcanary_private.business_events_default', 'a row of a day without partition lands in the default partition');
create temp table parked as select event_id from public.business_events where ts > now() + interval '19 days';
select is(public.maintain_event_partitions(21, 30) ->> 'default_rows_left', '0', 'making its day moves it out of the default partition');
select is((select e.tableoid::regclass::text from public.business_events e join parked p on p.event_id = e.event_id), 'pgcanary_private.' || pg_temp.part(20),
          'the row keeps its event_id in its new partition');
insert into pgcanary_private.business_events_default (ts, event_type) values ((pg_temp.day(-45) + time '08:00') at time zone 'UTC', 'opt_in');
select is(public.maintain_event_partitions(7, 30) ->> 'default_rows_deleted', '1', 'old rows of the default partition are deleted too');
select throws_ok($$select public.maintain_event_partitions(0, 30)$$, 'PC014', null, 'days_ahead 0 is refused with PC014');
-- The retention floor (issue 14): never under 7 days nor under the longest stability window.
select count(*) as parts0 from pg_inherits where inhparent = 'public.business_events'::regclass \gset
select throws_ok($$select public.maintain_event_partitions(7, 1)$$, 'PC064', null, 'retain_days 1 is refused with PC064 (under the 7-day floor)');
select throws_ok($$select public.maintain_event_partitions(7, 6)$$, 'PC064', 'retain_days must be at least 7, got 6', 'retain_days 6 is refused: the message names the floor');
select is((select count(*) from pg_inherits where inhparent = 'public.business_events'::regclass), :'parts0'::bigint,
          'after the refused calls no partition was dropped');
select is(pg_temp.as_role('service_role', $$select public.maintain_event_partitions(retain_days => 2)::text$$), 'ERROR PC064',
          'service_role cannot lower retention under the floor (the issue''s retain_days => 2)');
update rollout_steps set min_stable = '0';
select throws_ok($$select public.maintain_event_partitions(7, 6)$$, 'PC064', null, 'lowering every stability window to 0 does not move the 7-day floor');
update rollout_steps set min_stable = interval '12 days' where percentage = (select min(percentage) from rollout_steps);
select throws_ok($$select public.maintain_event_partitions(7, 11)$$, 'PC064', 'retain_days must be at least 12, got 11',
                 'a 12-day stability window raises the floor to 12');
select is(public.maintain_event_partitions(7, 12) ->> 'dropped', '[]', 'retain_days at the floor is accepted');
select throws_ok($$select public.maintain_event_partitions(7, 3651)$$, 'PC014', null, 'retain_days over 3650 is refused with PC014');
select throws_ok($$select public.maintain_event_partitions(null, 30)$$, 'PC014', null, 'NULL days_ahead is refused with PC014');

------------------------------------------------------------------------------------------
-- The RPC contract as PostgREST performs it, and who may do what.
select is(pg_temp.as_role('service_role', $$select public.emit_event(event_type => 'opt_in', cliente_id => 'c0000000-0000-4000-8000-000000000007'::uuid, conversation_id => null, event_props => '{"method": "reply"}'::jsonb) is not null$$),
          'true', 'service_role calls emit_event with named arguments');
select is(pg_temp.as_role('service_role', $$select array_length(public.emit_events(events => '[{"event_type": "opt_in"}, {"event_type": "opt_out"}]'::jsonb), 1)$$),
          '2', 'service_role calls emit_events');
select is(pg_temp.as_role('service_role', $$select pgcanary_private.record_event('guard_action', null, null, '{"action": "pause"}', 'guard') is not null$$),
          'true', 'service_role calls record_event (the guardrails and outbox run as service_role)');
select is(pg_temp.as_role('service_role', $$select (public.get_rollout_report() ? 'counts_24h')::text$$), 'true', 'service_role reads the report');
select is(pg_temp.as_role('service_role', $$select public.refresh_event_rollup() ->> 'refreshed'$$), 'true', 'service_role runs the rollup job');
select is(pg_temp.as_role('service_role', $$select jsonb_typeof(public.maintain_event_partitions())$$), 'object',
          'service_role runs the partition job (SECURITY DEFINER)');
select is(pg_temp.as_role('service_role', $$select count(*)::text from public.business_events where event_type = 'guard_action'$$), '1',
          'service_role reads business_events');
select is(pg_temp.as_role('service_role', $$update public.business_events set event_type = 'opt_in' returning 1$$), 'ERROR 42501',
          'service_role cannot update events (append-only)');
select is(pg_temp.as_role('service_role', $$delete from public.business_events returning 1$$), 'ERROR 42501',
          'service_role cannot delete events');
select is(pg_temp.as_role('service_role', 'select count(*)::text from pgcanary_private.' || pg_temp.part(0)), 'ERROR 42501',
          'service_role cannot read a partition directly');
select is(pg_temp.as_role('service_role', $$delete from public.business_event_types where event_type = 'opt_in' returning 1$$), 'ERROR 42501',
          'service_role cannot delete event types');
select ok(not has_function_privilege('service_role', 'pgcanary_private.emit_event_trigger()', 'EXECUTE'),
          'nobody but its owner may execute the SECURITY DEFINER trigger function');
select is(array(select r || ' ' || f from unnest(array['anon', 'authenticated']) r,
                unnest(array[$$select public.emit_event('opt_in')::text$$,
                             $$select public.emit_events('[]')::text$$,
                             $$select public.get_rollout_report()::text$$,
                             $$select public.get_rollout_status()::text$$,
                             $$select public.refresh_event_rollup()::text$$,
                             $$select public.maintain_event_partitions()::text$$,
                             $$select public.register_event_type('x_y', 'ops', 'x')::text$$,
                             $$select pgcanary_private.record_event('opt_in', null, null, '{}', 'x')::text$$,
                             $$select count(*)::text from public.business_events$$,
                             $$insert into public.business_events (event_type) values ('opt_in') returning 'inserted'$$,
                             $$select count(*)::text from public.business_event_types$$]) f
                where pg_temp.as_role(r, f) <> 'ERROR 42501'),
          '{}'::text[], 'anon and authenticated get 42501 on every events RPC and table');

select is(array(select p.oid::regprocedure::text || ' line ' || r.lineno || ': ' || r.message
                from pg_proc p join pg_namespace n on n.oid = p.pronamespace,
                     lateral tap.plpgsql_check_function_tb(p.oid, case when p.prorettype = 'trigger'::regtype
                                                                  then 'public.business_events'::regclass else 0 end) r
                where n.nspname in ('public', 'pgcanary_private') and p.prolang = (select oid from pg_language where lanname = 'plpgsql')
                  and p.proname in ('emit_event', 'emit_events', 'register_event_type', 'maintain_event_partitions', 'refresh_event_rollup',
                                    'get_rollout_report', 'get_rollout_status', 'record_event', 'validate_event', 'scrub_pii', 'scrub_pii_walk',
                                    'business_events_before_write', 'count_late_event', 'emit_event_trigger', 'rollout_event_metrics',
                                    'create_event_partition')
                  and r.level = 'error'),
          '{}'::text[], 'plpgsql_check finds no error in the events functions');

select * from finish();
rollback;
