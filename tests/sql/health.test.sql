-- Health (functions/health.sql): the seed's Q1-Q5 as views, daily_health_volume() and
-- daily_health() giving the same answers from the rollup (before any refresh, after one,
-- with late and tail rows), each SLO line with its value, threshold and status, the SLO
-- lines of the gate, and who may read what. now() is fixed in this transaction, so times
-- are written relative to it.
begin;
select plan(67);

-- Start from no events, no opt-outs, no incidents and an empty rollup, whatever ran before in
-- this database (all rolled back at the end).
delete from business_events;
delete from outbound_messages;
delete from opt_outs;
delete from opt_out_audit;
update incidents set resolved_at = now() - interval '30 days', resolved_by = 'test', resolution = 'test setup',
                     opened_at = least(opened_at, now() - interval '31 days') where resolved_at is null;
update incidents set opened_at = now() - interval '31 days', resolved_at = now() - interval '30 days';
update feature_flags set value = 'true' where flag_key = 'business_events_enabled';
delete from pgcanary_private.health_rollup;
delete from pgcanary_private.health_last_seen;
update pgcanary_private.health_rollup_state set covered_from = null, sealed_until = null, refreshed_at = null;

-- The panel the seed reads by hand, and the panel daily_health() returns, as comparable sets.
create function pg_temp.q2_json() returns jsonb language sql as $$
    select coalesce(jsonb_agg(to_jsonb(q) order by q.total desc, q.event_type, q.razao, q.canal, q.metodo), '[]')
    from health_q2_guardrail_reasons q $$;
create function pg_temp.q4_json() returns jsonb language sql as $$
    select coalesce(jsonb_agg(to_jsonb(q) order by q.hora desc, q.razao), '[]') from health_q4_provider_errors q $$;
create function pg_temp.slo(name text) returns text language sql as $$
    select value || ' ' || threshold || ' ' || status from health_slo_panel where slo = name $$;
create function pg_temp.gate_line(k text, name text) returns text language sql as $$
    select e ->> 'status' from jsonb_array_elements(public.rollout_gate(k) -> 'reasons') e
    where e ->> 'check' = 'slo' and e ->> 'name' = name $$;

------------------------------------------------------------------------------------------
-- An empty day reads OK.
select is((select array_agg(slo || ':' || status order by slo) from health_slo_panel),
    '{OUTBOUND_FALLBACK:OK,duplicatas_detectadas:OK,invalid_reply_attempts:OK,outbound_to_opted_out:OK,provider_error_rate:OK}',
    'SLO panel: the seed''s five SLOs, all OK on a quiet day');
select is(daily_health() ->> 'status', 'OK', 'daily_health: OK on a quiet day');
select is(daily_health() -> 'alerts', '[]', 'daily_health: no alert lines on a quiet day');

------------------------------------------------------------------------------------------
-- A day of varied traffic: 3,000 events over the last 48 h (half inside Q1's window), every
-- type, reason, channel and method the queries group by, some without a client.
insert into business_events (ts, event_type, cliente_id, conversation_id, event_props, source)
select now() - (g * interval '57 seconds'),
       (array['outbound_sent', 'outbound_blocked', 'outbound_bypass', 'inbound_received', 'outbound_sent',
              'outbound_blocked', 'offer_made', 'outbound_sent'])[1 + g % 8],
       case when g % 11 = 0 then null else md5('client-' || (g % 400))::uuid end,
       md5('conversation-' || g)::uuid,
       jsonb_build_object('method', (array['campaign', 'followup', 'reply'])[1 + g % 3],
                          'channel', 'whatsapp',
                          'inbound_interaction_id', md5('inbound-' || g)::uuid,
                          'block_reason', (array['opted_out', 'rate_limited', 'outside_business_hours', 'campaigns_disabled'])[1 + g % 4],
                          'bypass_reason', 'teste'),
       'sql'
from generate_series(1, 3000) g;

select bag_eq('select * from daily_health_volume()', 'select * from health_q1_volume',
    'daily_health_volume = Q1 before any refresh (all live)');
select is(public.refresh_health_rollup() ->> 'refreshed', 'true', 'refresh_health_rollup counts the closed buckets');
select cmp_ok((select count(*) from pgcanary_private.health_rollup), '>', 0::bigint, 'the rollup holds buckets after a refresh');
select bag_eq('select * from daily_health_volume()', 'select * from health_q1_volume',
    'daily_health_volume = Q1 from the rollup');
select is(daily_health() -> 'guardrail_reasons', pg_temp.q2_json(), 'daily_health guardrail_reasons = Q2');
select is((select count(*) from pgcanary_private.health_rollup_state where sealed_until <= now()), 1::bigint,
    'the rollup is sealed at a closed bucket');

-- Rows arriving after the refresh: in the live tail, and backdated into sealed buckets.
insert into business_events (ts, event_type, cliente_id, event_props) values
    (now(), 'outbound_sent', md5('tail-client')::uuid, '{"method": "campaign", "channel": "whatsapp"}'),
    (now() - interval '3 hours', 'outbound_sent', md5('late-client')::uuid, '{"method": "followup", "channel": "whatsapp"}'),
    (now() - interval '20 hours', 'outbound_blocked', md5('client-7')::uuid, '{"method": "campaign", "channel": "whatsapp", "block_reason": "opted_out"}');
select bag_eq('select * from daily_health_volume()', 'select * from health_q1_volume',
    'daily_health_volume = Q1 with a live tail and backdated rows');
select is(daily_health() -> 'guardrail_reasons', pg_temp.q2_json(), 'daily_health guardrail_reasons = Q2 with backdated rows');
select is((select count(*) from pgcanary_private.health_late_events), 2::bigint,
    'the rows backdated into sealed buckets are listed as late; the tail row is not');
select is(public.refresh_health_rollup() ->> 'rebuilt', 'false', 'a second refresh recounts only the last hour');
select is((select count(*) from pgcanary_private.health_late_events), 0::bigint, 'the refresh folds the late rows into the rollup');
select is((select sum(events)::bigint from pgcanary_private.health_rollup where bucket = date_bin('5 minutes', now() - interval '3 hours', timestamptz '2000-01-01 00:00+00') and event_type = 'outbound_sent' and method = 'followup'),
    (select count(*) from business_events where date_bin('5 minutes', ts, timestamptz '2000-01-01 00:00+00') = date_bin('5 minutes', now() - interval '3 hours', timestamptz '2000-01-01 00:00+00') and event_type = 'outbound_sent' and event_props ->> 'method' = 'followup'),
    'a late row is in its bucket after the fold');
select bag_eq('select * from daily_health_volume()', 'select * from health_q1_volume',
    'daily_health_volume = Q1 after the second refresh');
-- A replayed backdated row that is already stored (skipped by ON CONFLICT) is not noted again:
-- the fold would count it twice.
insert into business_events (event_id, ts, event_type, cliente_id, event_props)
select event_id, ts, event_type, cliente_id, event_props from business_events where cliente_id = md5('late-client')::uuid
on conflict do nothing;
select is((select count(*) from pgcanary_private.health_late_events), 0::bigint,
    'a replayed late row skipped by ON CONFLICT DO NOTHING leaves no late note');

------------------------------------------------------------------------------------------
-- Each SLO fails on its own fault.
-- OUTBOUND_FALLBACK (Q5).
insert into business_events (ts, event_type, cliente_id, event_props) values
    (now() - interval '2 hours', 'outbound_fallback', md5('client-1')::uuid, '{"function": "enviar_legado", "telefone": "5511987654321"}');
select is(pg_temp.slo('OUTBOUND_FALLBACK'), '1 = 0 ALERT', 'SLO OUTBOUND_FALLBACK: one legacy fallback is an ALERT');
select is(daily_health() -> 'fallbacks' -> 0 ->> 'funcao', 'enviar_legado', 'daily_health fallbacks lists Q5''s rows');
select is(daily_health() -> 'fallbacks' -> 0 ->> 'telefone_prefix', '5511', 'Q5 shows only the phone prefix');
select is((daily_health() ->> 'fallbacks_total')::int, 1, 'daily_health counts the fallbacks');

-- invalid_reply_attempts (Q3): a reply without inbound proof, blocked or bypassed.
insert into business_events (ts, event_type, cliente_id, conversation_id, event_props) values
    (now() - interval '1 hour', 'outbound_blocked', md5('client-2')::uuid, null, '{"method": "reply", "channel": "whatsapp", "block_reason": "reply_without_inbound_proof"}'),
    (now() - interval '30 hours', 'outbound_bypass', md5('client-3')::uuid, md5('c')::uuid, '{"method": "reply", "channel": "whatsapp", "bypass_reason": "x"}');
select is(pg_temp.slo('invalid_reply_attempts'), '1 = 0 ALERT', 'SLO invalid_reply_attempts counts Q3''s rows of the last 24 h');
select is((select count(*) from jsonb_array_elements(daily_health() -> 'invalid_replies')), (select count(*) from health_q3_invalid_replies),
    'daily_health invalid_replies = Q3');
select is(daily_health() -> 'invalid_replies' -> 0 ->> 'razao', 'reply_without_inbound_proof', 'daily_health invalid_replies carries Q3''s columns');

-- outbound_to_opted_out: a send while the client was opted out, per the opt-out history.
select opt_out(md5('client-5')::uuid, 'whatsapp_keyword');
update opt_out_audit set changed_at = now() - interval '2 hours' where cliente_id = md5('client-5')::uuid;
select is(pg_temp.slo('outbound_to_opted_out'), '0 = 0 OK', 'SLO outbound_to_opted_out: sends before the opt-out are not leaks');
insert into business_events (ts, event_type, cliente_id, event_props) values
    (now() - interval '90 minutes', 'outbound_sent', md5('client-5')::uuid, '{"method": "campaign", "channel": "whatsapp"}'),
    (now() - interval '80 minutes', 'outbound_blocked', md5('client-5')::uuid, '{"method": "campaign", "channel": "whatsapp", "block_reason": "opted_out"}');
select is(pg_temp.slo('outbound_to_opted_out'), '1 = 0 ALERT', 'SLO outbound_to_opted_out: a send after the opt-out is a leak; a block is not');
select opt_in(md5('client-5')::uuid, 'whatsapp_keyword');
update opt_out_audit set changed_at = now() - interval '70 minutes' where cliente_id = md5('client-5')::uuid and new_opted_out = false;
insert into business_events (ts, event_type, cliente_id, event_props) values
    (now() - interval '60 minutes', 'outbound_sent', md5('client-5')::uuid, '{"method": "campaign", "channel": "whatsapp"}');
select is(pg_temp.slo('outbound_to_opted_out'), '1 = 0 ALERT', 'SLO outbound_to_opted_out: a send after opting back in is not a leak');
select is(public.refresh_health_rollup() ->> 'refreshed', 'true', 'refresh with leaks in the last hour');
select is(pg_temp.slo('outbound_to_opted_out'), '1 = 0 ALERT', 'SLO outbound_to_opted_out: the rollup keeps the leak');

-- provider_error_rate: failures over attempts; 1% is not under 1%.
create temp table sent_before as select count(*) as n from business_events where event_type = 'outbound_sent' and ts >= now() - interval '24 hours';
insert into business_events (ts, event_type, cliente_id, event_props)
select now() - interval '10 minutes', 'outbound_failed', md5('client-9')::uuid, '{"method": "campaign", "error_class": "http_400"}'
from generate_series(1, ((select n from sent_before) / 99 + 1)::int);
select is((select status from health_slo_panel where slo = 'provider_error_rate'), 'ALERT', 'SLO provider_error_rate: ALERT at 1% or more');
select is((select detail from health_slo_panel where slo = 'provider_error_rate'),
    format('%s provider failures / %s send attempts', (select n from sent_before) / 99 + 1, (select n from sent_before) + (select n from sent_before) / 99 + 1),
    'SLO provider_error_rate: the detail gives failures and attempts');
insert into business_events (ts, event_type, cliente_id, event_props)
select now() - interval '10 minutes', 'outbound_sent', md5('client-9')::uuid, '{"method": "campaign", "channel": "whatsapp"}'
from generate_series(1, (select n from sent_before)::int * 2);
select is((select status from health_slo_panel where slo = 'provider_error_rate'), 'OK', 'SLO provider_error_rate: OK under 1%');
insert into business_events (ts, event_type, cliente_id, event_props) values
    (now() - interval '5 hours', 'outbound_blocked', md5('client-9')::uuid, '{"method": "campaign", "channel": "whatsapp", "block_reason": "provider_error"}'),
    (now() - interval '5 hours', 'outbound_blocked', md5('client-9')::uuid, '{"method": "campaign", "channel": "whatsapp", "block_reason": "circuit_open"}');
select is(daily_health() -> 'provider_errors', pg_temp.q4_json(), 'daily_health provider_errors = Q4');
select cmp_ok((select value from health_slo_panel where slo = 'provider_error_rate'), '>', 0::numeric,
    'SLO provider_error_rate counts Q4''s blocks as failures');

-- duplicatas_detectadas, from the outbox: the same client, method and template sent twice
-- within 60 minutes, or one provider message id twice. These rows are backdated, which only
-- a rebuild of the rollup sees (sent_at is now() when the outbox marks a send): count live.
update pgcanary_private.health_rollup_state set covered_from = null, sealed_until = null;
insert into outbound_messages (dedupe_key, cliente_id, method, template_ref, status, created_at, sent_at, provider_message_id) values
    ('dup-a', md5('client-20')::uuid, 'campaign', 'vaga-1', 'sent', now() - interval '3 hours', now() - interval '3 hours', 'wamid-1'),
    ('dup-b', md5('client-20')::uuid, 'campaign', 'vaga-1', 'sent', now() - interval '150 minutes', now() - interval '150 minutes', 'wamid-2'),
    ('dup-c', md5('client-20')::uuid, 'campaign', 'vaga-1', 'sent', now() - interval '60 minutes', now() - interval '60 minutes', 'wamid-3'),
    ('dup-d', md5('client-21')::uuid, 'campaign', 'vaga-1', 'sent', now() - interval '20 minutes', now() - interval '20 minutes', 'wamid-4'),
    ('dup-e', md5('client-21')::uuid, 'campaign', 'vaga-2', 'sent', now() - interval '10 minutes', now() - interval '10 minutes', 'wamid-5'),
    ('dup-f', md5('client-21')::uuid, 'followup', null, 'failed', now() - interval '10 minutes', null, null);
select is(pg_temp.slo('duplicatas_detectadas'), '1 = 0 ALERT',
    'SLO duplicatas_detectadas: a repeat within 60 minutes counts; 90 minutes apart, another template or a failure do not');
update outbound_messages set provider_message_id = 'wamid-4' where dedupe_key = 'dup-e';
select is(pg_temp.slo('duplicatas_detectadas'), '2 = 0 ALERT', 'SLO duplicatas_detectadas: one provider message id twice counts');
select is(public.refresh_health_rollup(rebuild => true) ->> 'rebuilt', 'true', 'refresh_health_rollup(rebuild => true) recounts everything');
select is(pg_temp.slo('duplicatas_detectadas'), '2 = 0 ALERT', 'SLO duplicatas_detectadas: the rollup keeps the duplicates');
select bag_eq('select * from daily_health_volume()', 'select * from health_q1_volume',
    'daily_health_volume = Q1 after a rebuild');
delete from outbound_messages where dedupe_key like 'dup-%';
select public.refresh_health_rollup(rebuild => true);

-- The outbox is the record of what was sent: its outbound_sent events follow the
-- business-events rollout (a few percent of the clients early on), so they are not what the
-- SLOs count; outbound_failed and outbound_unknown_outcome are always recorded, and count.
update pgcanary_private.health_rollup_state set covered_from = null, sealed_until = null;
select (select value from health_slo_panel where slo = 'outbound_to_opted_out') as leaks_before,
       (select detail from health_slo_panel where slo = 'provider_error_rate') as rate_before \gset
select opt_out(md5('client-30')::uuid, 'whatsapp_keyword');
update opt_out_audit set changed_at = now() - interval '2 hours' where cliente_id = md5('client-30')::uuid;
insert into outbound_messages (dedupe_key, cliente_id, method, template_ref, status, created_at, sent_at) values
    ('obx-leak', md5('client-30')::uuid, 'followup', null, 'sent', now() - interval '50 minutes', now() - interval '50 minutes'),
    ('obx-ok-1', md5('client-31')::uuid, 'followup', null, 'sent', now() - interval '50 minutes', now() - interval '50 minutes'),
    ('obx-ok-2', md5('client-32')::uuid, 'followup', null, 'sent', now() - interval '40 minutes', now() - interval '40 minutes');
insert into business_events (ts, event_type, cliente_id, event_props, source) values
    (now() - interval '50 minutes', 'outbound_sent', md5('client-30')::uuid, '{"method": "followup", "channel": "whatsapp"}', 'outbox');
select is((select value from health_slo_panel where slo = 'outbound_to_opted_out'), :'leaks_before'::numeric + 1,
    'SLO outbound_to_opted_out: an outbox message sent after the opt-out counts once (its outbox event is not counted again)');
select is((select detail from health_slo_panel where slo = 'provider_error_rate'),
    regexp_replace(:'rate_before', '/ ([0-9]+) send', '/ ' || (substring(:'rate_before' from '/ ([0-9]+) send')::int + 3) || ' send'),
    'SLO provider_error_rate: the outbox''s sent messages are the attempts, not its outbound_sent events');
insert into business_events (ts, event_type, cliente_id, event_props, source) values
    (now() - interval '30 minutes', 'outbound_unknown_outcome', md5('client-30')::uuid, '{"method": "followup"}', 'outbox');
select is((select value from health_slo_panel where slo = 'outbound_to_opted_out'), :'leaks_before'::numeric + 2,
    'SLO outbound_to_opted_out: an unknown outcome to an opted-out client counts (it may have arrived)');
select is(public.refresh_health_rollup(rebuild => true) ->> 'rebuilt', 'true', 'rebuild with outbox sends in the window');
select is((select value from health_slo_panel where slo = 'outbound_to_opted_out'), :'leaks_before'::numeric + 2,
    'SLO outbound_to_opted_out: the rollup keeps the outbox leak');
delete from outbound_messages where dedupe_key like 'obx-%';
delete from business_events where cliente_id = md5('client-30')::uuid;
select public.refresh_health_rollup(rebuild => true);

-- The whole panel: ALERT with one line per failing SLO.
select is(daily_health() ->> 'status', 'ALERT', 'daily_health: ALERT when an SLO fails');
select is(daily_health() -> 'alerts', '["OUTBOUND_FALLBACK = 1 (threshold = 0)", "invalid_reply_attempts = 1 (threshold = 0)", "outbound_to_opted_out = 1 (threshold = 0)"]',
    'daily_health: the alert lines name each failing SLO with value and threshold');
select is(jsonb_array_length(daily_health() -> 'slos'), 5, 'daily_health carries every SLO line');
select bag_eq($$ select e ->> 'event_type' as event_type, (e ->> 'total')::bigint as total, (e ->> 'clientes_unicos')::bigint as clientes_unicos from jsonb_array_elements(daily_health() -> 'volume') e $$,
    'select * from health_q1_volume', 'daily_health volume = Q1');

-- Security findings make the panel ALERT too.
create table public.health_probe (id int);
select is(daily_health() -> 'alerts' ->> -1, 'security: 1 finding(s) in health_security_all', 'daily_health: a table without RLS is an alert line');
select is(daily_health() -> 'security' -> 0 ->> 'object_name', 'public.health_probe', 'daily_health lists the security findings');
drop table public.health_probe;
alter table public.opt_outs disable trigger opt_outs_audit;
select is(daily_health() -> 'security' -> 0 ->> 'object_name', 'public.opt_outs.opt_outs_audit', 'daily_health: a disabled audit trigger is a security finding');
alter table public.opt_outs enable always trigger opt_outs_audit;

------------------------------------------------------------------------------------------
-- The gate reads the SLOs over its stability period.
update feature_flags set value = '{"enabled": true, "percentage": 0, "force_on": []}' where flag_key = 'business_events_canary';
update feature_flags set value = '{"enabled": true, "percentage": 2, "force_on": []}' where flag_key = 'business_events_canary';
update rollout_history set started_at = started_at - interval '2 days' where flag_key = 'business_events_canary';
select is(pg_temp.gate_line('business_events_canary', 'OUTBOUND_FALLBACK'), 'FAIL', 'gate: a fallback inside the window is a NO-GO line');
select is(pg_temp.gate_line('business_events_canary', 'outbound_to_opted_out'), 'FAIL', 'gate: a leak inside the window is a NO-GO line');
select matches((select e ->> 'message' from jsonb_array_elements(rollout_gate('business_events_canary') -> 'reasons') e where e ->> 'name' = 'provider_error_rate'),
    '^provider_error_rate = [0-9.]+ \(threshold < 1%\) since ', 'gate: an SLO line gives value, threshold and period start');
select is(rollout_gate('business_events_canary') ->> 'verdict', 'NO-GO', 'gate: NO-GO while SLOs fail in the window');
-- Move every fault out of the 2-day window: the same gate says GO.
update business_events set ts = ts - interval '3 days'
 where event_type = 'outbound_fallback' or cliente_id = md5('client-5')::uuid
    or (event_props ->> 'method' = 'reply' and (event_props ->> 'inbound_interaction_id' is null or conversation_id is null));
update opt_out_audit set changed_at = changed_at - interval '3 days' where cliente_id = md5('client-5')::uuid;
delete from pgcanary_private.health_rollup;
update pgcanary_private.health_rollup_state set covered_from = null, sealed_until = null;
select is(pg_temp.gate_line('business_events_canary', 'OUTBOUND_FALLBACK'), 'OK', 'gate: a fallback before the window no longer blocks');
select is(rollout_gate('business_events_canary') ->> 'verdict', 'GO', 'gate: GO once the window is clean');

------------------------------------------------------------------------------------------
-- Who may read what (PostgREST runs RPCs as service_role).
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role", "sub": "health-job"}', true);
select is(daily_health() ->> 'status', 'OK', 'rpc: service_role calls daily_health');
select lives_ok('select * from daily_health_volume()', 'rpc: service_role calls daily_health_volume');
select is(refresh_health_rollup() ->> 'refreshed', 'true', 'rpc: service_role calls refresh_health_rollup');
select lives_ok($$ select * from health_slo_panel, health_q1_volume, health_q2_guardrail_reasons, health_q3_invalid_replies,
                   health_q4_provider_errors, health_q5_fallbacks $$, 'service_role reads the panel views');
select throws_ok('delete from pgcanary_private.health_rollup_state', '42501', null,
    'service_role cannot delete the rollup coverage row');
reset role;
set local role anon;
select throws_ok('select daily_health()', '42501', null, 'anon cannot call daily_health');
select throws_ok('select * from daily_health_volume()', '42501', null, 'anon cannot call daily_health_volume');
select throws_ok('select * from health_slo_panel', '42501', null, 'anon cannot read the SLO panel');
reset role;
set local role authenticated;
select throws_ok('select refresh_health_rollup()', '42501', null, 'authenticated cannot refresh the rollup');
select throws_ok('select * from health_q1_volume', '42501', null, 'authenticated cannot read Q1');
reset role;

select * from finish();
rollback;
