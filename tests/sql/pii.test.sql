-- The PII scrub of free text and the limits of every text column we store (functions/pii.sql,
-- docs/pii.md, invariant 6): scrub_text itself, then each kind of column through its RPC, a
-- raw UPDATE, and service_role the PostgREST way; over a limit our SQLSTATE and nothing changed.
begin;
select plan(55);

-- scrub_text: every spelling of a whole number becomes its prefix; ids, dates and small
-- numbers stay.
select is(pgcanary_private.scrub_text(x), y, format('scrub_text(%s)', x))
from (values ('cliente ligou do 11 98765-4321', 'cliente ligou do 5511…'),
             ('tel:+5511987654321 ok', 'tel:5511… ok'),
             ('wa.me/5511987654321?text=oi', 'wa.me/5511…?text=oi'),
             ('5511987654321@s.whatsapp.net', '5511…@s.whatsapp.net'),
             ('liga ' || U&'\FF10\FF11\FF11\FF19\FF18\FF17\FF16\FF15\FF14\FF13\FF12\FF11', 'liga 5511…'),
             ('de ' || U&'\0660\0661\0661\0669\0668\0667\0666\0665\0664\0663\0662\0661', 'de 5511…'),
             ('11' || chr(160) || '98765' || chr(160) || '4321', '5511…'),
             ('00 55 11 98765 4321', '5511…'),
             ('ddd 11 numero 98765-4321', 'ddd 11 numero …'),
             ('fixo 3333-4444', 'fixo …'),
             ('dois: 11987654321 11912345678', 'dois: 1198…')) AS v(x, y);
select is(pgcanary_private.scrub_text(x), x, format('scrub_text keeps %s', x))
from (values ('rollback em 2026-12-06 14:35 pelo guard'), ('06/12/2026 14:35'),
             ('cliente 14392709-1234-4abc-8123-123456789012'), ('md5 5d41402abc4b2a76b9719d911017c592'),
             ('R$ 1.234.567,89'), ('vaga-123'), ('5511…')) AS v(x);
select is(pgcanary_private.scrub_text(null), null, 'scrub_text(NULL) is NULL');

-- One trigger per table of the list, and the list is what the health check watches.
select is((select count(*) from pgcanary_private.text_columns() c
           join pg_trigger t on t.tgrelid = ('public.' || c.table_name)::regclass and t.tgname = 'scrub_text'
           where t.tgenabled = 'A'), (select count(*) from pgcanary_private.text_columns()),
          'every table of text_columns() carries scrub_text, enabled ALWAYS');
select is((select count(*) from pgcanary_private.audit_triggers() where trigger_name = 'scrub_text'),
          (select count(*) from pgcanary_private.text_columns()), 'health_security_audit_triggers watches every scrub_text trigger');

-- Human text through the RPCs: opt-out source and its trail, a flag change's reason.
select opt_out('0e8c7f4a-0000-4000-8000-000000000001', 'cliente pediu pelo 11 98765-4321') \g /dev/null
select is((select source from opt_outs where cliente_id = '0e8c7f4a-0000-4000-8000-000000000001'), 'cliente pediu pelo 5511…',
          'opt_out: the source keeps no number');
select is((select source from opt_out_audit where cliente_id = '0e8c7f4a-0000-4000-8000-000000000001' order by audit_id desc limit 1),
          'cliente pediu pelo 5511…', 'nor does its audit row');
insert into feature_flags (flag_key, value) values ('pii_teste', '{"enabled": true, "percentage": 0}');
select set_rollout_percentage('pii_teste', 3, 'pedido do gerente (11) 98765-4321') \g /dev/null
select is((select reason from feature_flag_audit where flag_key = 'pii_teste' order by audit_id desc limit 1),
          'pedido do gerente 5511…', 'a flag change''s reason keeps no number');

-- Over the limit: PC070, nothing changed.
select value as canary0 from feature_flags where flag_key = 'pii_teste' \gset
select count(*) as audit0 from feature_flag_audit \gset
select throws_ok(format($$select set_rollout_percentage('pii_teste', 4, %L)$$, repeat('x', 1001)), 'PC070',
                 'feature_flag_audit.reason: 1001 characters, the limit is 1000', 'a 1001-character reason raises PC070 naming the column and the limit');
select is((select value from feature_flags where flag_key = 'pii_teste'), :'canary0'::jsonb, 'and the flag is unchanged');
select is((select count(*) from feature_flag_audit), :audit0::bigint, 'and no audit row was written');
select throws_ok(format($$select opt_out(gen_random_uuid(), %L)$$, repeat('y', 201)), 'PC070', null, 'a 201-character opt-out source raises PC070');
select throws_ok(format($$select open_incident('P3', %L)$$, repeat('t', 201)), 'PC070', null, 'a 201-character incident title raises PC070');
select count(*) as events0 from business_events \gset
select throws_ok(format($$select check_outbound_guardrails(gen_random_uuid(), '5511900000009', 'followup', bypass_reason => %L)$$, repeat('r', 1001)),
                 'PC070', 'bypass_reason: 1001 characters, the limit is 1000', 'a 1001-character bypass_reason raises PC070');
select is((select count(*) from business_events), :events0::bigint, 'and records nothing');
select count(*) as queued0 from outbound_messages \gset
select throws_ok(format($$select pode_enviar_com_dedupe(gen_random_uuid(), 'followup', payload => jsonb_build_object('number', '5511900000009', 'text', %L::text))$$, repeat('m', 4097)),
                 'PC070', 'payload: 4097 characters of text, 4144 bytes in all; the limits are 4096 and 16384', 'a 4097-character message text raises PC070');
select throws_ok($$select pode_enviar_com_dedupe(gen_random_uuid(), 'followup', payload => jsonb_build_object('number', '5511900000009', 'text', 'oi', 'options', repeat('o', 17000)))$$,
                 'PC070', null, 'a payload over 16 kB raises PC070');
select is((select count(*) from outbound_messages), :queued0::bigint, 'and nothing is queued');
select ok((pode_enviar_com_dedupe(gen_random_uuid(), 'followup', payload => jsonb_build_object('number', '5511900000009', 'text', repeat('m', 4096))) ->> 'pode_enviar')::boolean,
          'a 4096-character text is queued');

-- Incidents: title, details (JSON: depth and size), a raw UPDATE.
select (open_incident('P2', 'cliente 5511987654321 reclamou', null, '{"nota": "ligou do +55 11 98765-4321", "telefone": "11987654321"}') ->> 'incident_id')::bigint as inc \gset
select is((select title from incidents where incident_id = :inc), 'cliente 5511… reclamou', 'open_incident: the title keeps no number');
select is((select details from incidents where incident_id = :inc), '{"nota": "ligou do 5511…", "telefone_prefix": "5511"}'::jsonb,
          'the details are scrubbed like event props');
update incidents set title = 'retornado no 11 3333-4444' where incident_id = :inc;
select is((select title from incidents where incident_id = :inc), 'retornado no 5511…', 'a raw UPDATE is scrubbed too');
select count(*) as incidents0 from incidents \gset
select throws_ok($$select open_incident('P3', 'fundo', null, (repeat('{"a":', 40) || '1' || repeat('}', 40))::jsonb)$$, 'PC072',
                 'incidents.details nests deeper than 32 levels', 'details nested 40 deep raise PC072, not 54001');
select throws_ok(format($$select open_incident('P3', 'grande', null, jsonb_build_object('x', %L))$$, repeat('z', 9000)), 'PC070', null,
                 'details over 8192 bytes raise PC070');
select is((select count(*) from incidents), :incidents0::bigint, 'and no incident was opened by them');

-- Event props: free text, keys, Unicode digits, depth.
select emit_event('guard_action', null, null, '{"nota": "cliente ligou do 11 98765-4321", "5511987654321": "x"}') as ev1 \gset
select is((select event_props from business_events where event_id = :'ev1'),
          '{"nota": "cliente ligou do 5511…", "5511…": "x"}'::jsonb, 'event props: numbers in free text and in keys become their prefix');
select emit_event('guard_action', null, null,
                  jsonb_build_object('nota', 'liga ' || U&'\FF10\FF11\FF11\FF19\FF18\FF17\FF16\FF15\FF14\FF13\FF12\FF11')) as ev2 \gset
select is((select event_props from business_events where event_id = :'ev2'),
          '{"nota": "liga 5511…"}'::jsonb, 'fullwidth digits do not pass the fast path');
select throws_ok($$select emit_event('guard_action', null, null, (repeat('{"a":', 40) || '1' || repeat('}', 40))::jsonb)$$, 'PC072',
                 'event_props nests deeper than 32 levels', 'event props nested 40 deep raise PC072, not 54001');
select throws_ok($$insert into business_events (event_type, source) values ('guard_action', 'bot 5511987654321')$$, 'PC071', null,
                 'a raw event whose source holds a number raises PC071');

-- Outbox: a key with a number is refused; a provider's error is scrubbed and cut, never refused.
select count(*) as messages0 from outbound_messages \gset
select throws_ok($$select pode_enviar_com_dedupe(gen_random_uuid(), 'campaign', '5511987654321')$$, 'PC071', null,
                 'a template_ref holding a phone number raises PC071');
select is((select count(*) from outbound_messages), :messages0::bigint, 'and nothing was queued');
select (pode_enviar_com_dedupe('0e8c7f4a-0000-4000-8000-000000000002', 'campaign', 'vaga-pii') ->> 'dedupe_key') as key \gset
select marcar_falha(:'key', 'HTTP 400: invalid recipient +55 11 98765-4321 ' || repeat('e', 3000)) \g /dev/null
select is((select status from outbound_messages where dedupe_key = :'key'), 'failed', 'a long provider error still marks the message failed');
select ok((select error from outbound_messages where dedupe_key = :'key') like 'HTTP 400: invalid recipient 5511… eee%(3046 characters)',
          'its error keeps no number and is cut at 1000 characters, saying how long it was');
select is((select char_length(error) from outbound_messages where dedupe_key = :'key'), 1000, 'exactly 1000');

-- service_role, the PostgREST way: the same rules.
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true) \g /dev/null
select (open_incident('P3', 'via api: 11 98765-4321') ->> 'incident_id')::bigint as inc2 \gset
select is((select title from incidents where incident_id = :inc2), 'via api: 5511…', 'service_role: open_incident is scrubbed');
update incidents set title = 'editado: +5511987654321' where incident_id = :inc2;
select is((select title from incidents where incident_id = :inc2), 'editado: 5511…', 'service_role: a raw UPDATE is scrubbed');
select throws_ok(format($$select opt_out(gen_random_uuid(), %L)$$, repeat('y', 201)), 'PC070', null, 'service_role: PC070 too');
reset role;

-- anon and authenticated reach none of it.
select ok(not has_function_privilege('anon', 'pgcanary_private.scrub_text(text)', 'EXECUTE')
          and not has_function_privilege('authenticated', 'pgcanary_private.scrub_text(text)', 'EXECUTE')
          and not has_function_privilege('anon', 'pgcanary_private.clean_text_columns()', 'EXECUTE'),
          'anon and authenticated cannot execute the scrub');

-- A disabled scrub trigger is reported by the health check.
alter table incidents disable trigger scrub_text;
select ok(exists (select from health_security_audit_triggers where object_name = 'public.incidents.scrub_text'),
          'a disabled scrub_text trigger shows in health_security_audit_triggers');
alter table incidents enable always trigger scrub_text;

select * from finish();
rollback;
