"""The worker's decisions with the guardrail and the shared breaker, run in-process against the
fake provider over real HTTP (the fault tests run it as separate processes)."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from fake_provider import API_KEY, INSTANCE, FakeProvider
from pgcanary import guardrails, outbox
from pgcanary.migrate import migrate
from pgcanary.worker import Worker, WorkerSettings


@pytest.fixture
def db(fresh_database):
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("select circuit_configure('whatsapp', 5, 1)")
    return fresh_database


def settings(url: str, fake: FakeProvider, **kw) -> WorkerSettings:
    base = dict(database_url=url, evolution_url=fake.url, evolution_key=API_KEY, evolution_instance=INSTANCE,
                worker_id="t", batch_size=20, lease_seconds=30, poll_interval=0.05, max_idle=0.5,
                connect_timeout=0.3, read_timeout=0.3, backoff_initial=0.01, backoff_max=0.02)
    base.update(kw)
    return WorkerSettings(**base)


def enqueue(conn, n: int, method: str = "followup") -> list[uuid.UUID]:
    clients = [uuid.uuid4() for _ in range(n)]
    for i, c in enumerate(clients):
        assert outbox.pode_enviar_com_dedupe(c, method, "t", {"number": f"55119{i:08d}", "text": f"m{i}"},
                                             conn=conn)["pode_enviar"]
    return clients


def test_the_guardrail_stops_an_opted_out_client_before_the_provider(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        clients = enqueue(conn, 5)
        guardrails.opt_out(clients[2], "test", conn=conn)
        stats = Worker(settings(db, fake)).run()
        rows = dict(conn.execute("select cliente_id, status || ':' || coalesce(error, '') from outbound_messages").fetchall())
        blocked = conn.execute("select count(*) from business_events where event_type = 'outbound_blocked' "
                               "and event_props ->> 'block_reason' = 'opted_out'").fetchone()[0]
    assert rows[clients[2]] == "cancelled:cancelled: opted_out"
    assert all(rows[c] == "sent:" for c in clients if c != clients[2])
    assert len(fake.requests) == 4 and "m2" not in {r.text for r in fake.requests}
    assert stats["cancelled"] == 1 and blocked == 1


def _statuses(conn) -> dict:
    return dict(conn.execute("select status, count(*) from outbound_messages group by status").fetchall())


def test_a_pause_holds_the_campaign_and_resume_sends_every_message_exactly_once(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        conn.execute("update outbound_methods set hours_from = null, hours_to = null, weekdays = null where method = 'campaign'")
        enqueue(conn, 5, method="campaign")
        guardrails.pausar_julia("test: incident", conn=conn)
        stats = Worker(settings(db, fake, max_idle=0.3)).run()
        held = conn.execute("select count(*), min(next_attempt_at - now()) > interval '1 minute', "
                            "bool_and(block_reason = 'assistant_paused') from outbound_messages where status = 'queued'").fetchone()
        assert stats["held"] == 5 and stats.get("sent", 0) == 0 and fake.requests == []
        assert held == (5, True, True), "held in the queue until a re-check time the database set"
        guardrails.retomar_julia("test: over", conn=conn)  # wakes the held sends at once
        stats = Worker(settings(db, fake)).run()
        assert stats["sent"] == 5 and _statuses(conn) == {"sent": 5}
        assert sorted(r.text for r in fake.requests) == [f"m{i}" for i in range(5)], "each sent exactly once"


def test_an_opt_out_during_the_hold_cancels_that_message_only(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        conn.execute("update outbound_methods set hours_from = null, hours_to = null, weekdays = null where method = 'campaign'")
        clients = enqueue(conn, 3, method="campaign")
        guardrails.toggle_campanhas("off", "test: campaigns off", conn=conn)
        assert Worker(settings(db, fake, max_idle=0.3)).run()["held"] == 3
        guardrails.opt_out(clients[1], "test", conn=conn)
        guardrails.toggle_campanhas("on", "test: campaigns on", conn=conn)
        stats = Worker(settings(db, fake)).run()
        rows = dict(conn.execute("select cliente_id, status || ':' || coalesce(block_reason, '') from outbound_messages").fetchall())
    assert rows[clients[1]] == "cancelled:opted_out"
    assert rows[clients[0]] == rows[clients[2]] == "sent:campaigns_disabled"  # the last block stays as history
    assert stats["sent"] == 2 and stats["cancelled"] == 1 and len(fake.requests) == 2


def test_outside_business_hours_holds_until_the_next_opening(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        # Open one hour a day, on no day that includes now: the hold ends at the next opening.
        conn.execute("""update outbound_methods set hours_tz = 'UTC', weekdays = '{1,2,3,4,5,6,7}',
                            hours_from = ((now() at time zone 'UTC') + interval '3 hours')::time(0),
                            hours_to = least(((now() at time zone 'UTC') + interval '4 hours')::time(0), '23:59:59')
                        where method = 'campaign'""")
        conn.execute("update outbound_methods set hours_from = '00:00', hours_to = '00:30' where method = 'campaign' and hours_from >= hours_to")
        enqueue(conn, 1, method="campaign")
        Worker(settings(db, fake, max_idle=0.3)).run()
        until, expected = conn.execute("""select m.next_attempt_at, pgcanary_private.next_business_open(now(), om.hours_from, om.hours_to, om.weekdays, om.hours_tz)
                                          from outbound_messages m join outbound_methods om using (method)""").fetchone()
    assert fake.requests == [] and abs((until - expected).total_seconds()) < 5


def test_a_message_held_past_its_max_hold_is_cancelled_as_expired(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        conn.execute("update outbound_methods set hours_from = null, hours_to = null, weekdays = null, max_hold = '1 minute' where method = 'campaign'")
        enqueue(conn, 1, method="campaign")
        guardrails.pausar_julia("test: long incident", conn=conn)  # re-checked in 5 minutes > 1 minute
        stats = Worker(settings(db, fake, max_idle=0.3)).run()
        row = conn.execute("select status, block_reason from outbound_messages").fetchone()
    assert row == ("cancelled", "expired_while_held") and stats["cancelled"] == 1 and fake.requests == []


def test_the_breaker_opens_on_an_outage_holds_the_queue_and_its_probe_closes_it(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        enqueue(conn, 60)
        fake.down = True
        worker = Worker(settings(db, fake, max_idle=1.5))
        seen: list[str] = []

        def watch_and_recover():
            with psycopg.connect(db, autocommit=True) as w:
                deadline = time.monotonic() + 30
                while not worker.stopping.is_set():
                    state, opened = w.execute("select state, times_opened from circuit_breakers "
                                              "where name = 'whatsapp'").fetchone()
                    if not seen or seen[-1] != state:
                        seen.append(state)
                    if opened >= 2:
                        fake.down = False  # the provider recovers after one failed probe
                    if time.monotonic() > deadline:
                        worker.request_stop()  # bounded, whatever happens
                    time.sleep(0.01)

        watcher = threading.Thread(target=watch_and_recover, daemon=True)
        watcher.start()
        stats = worker.run()
        worker.stopping.set()
        watcher.join()
        statuses = dict(conn.execute("select status, count(*) from outbound_messages group by 1").fetchall())
        opened = conn.execute("select times_opened from circuit_breakers where name = 'whatsapp'").fetchone()[0]
        blocked = conn.execute("select count(*) from business_events where event_type = 'outbound_blocked' "
                               "and event_props ->> 'block_reason' = 'circuit_open'").fetchone()[0]
    # Five messages were refused three times each and failed; that opened the breaker. A probe
    # failed and re-opened it; the next probe succeeded and closed it; the rest went out once.
    assert statuses == {"failed": 6, "sent": 54}, statuses
    assert opened == 2
    assert seen[0] == "closed" and "open" in seen and seen[-1] == "closed", seen
    assert fake.max_deliveries() == 1
    assert stats["circuit_waits"] > 0, "the worker did not wait for the open breaker"
    # The message after the opening failure was stopped by the guardrail's check 7 (recorded as
    # outbound_blocked / circuit_open, as seed Q4 counts them) and released with its batch.
    assert blocked == stats["circuit_open"] >= 1
    assert stats["released"] >= 1


def test_unknown_outcomes_are_not_resent_by_the_next_run(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider({"500": 1.0}) as fake:
        enqueue(conn, 3)
        Worker(settings(db, fake)).run()
        fake.faults = {}
        Worker(settings(db, fake)).run()
        statuses = dict(conn.execute("select status, count(*) from outbound_messages group by 1").fetchall())
        events = conn.execute("select count(*) from business_events where event_type = 'outbound_unknown_outcome'").fetchone()[0]
    assert statuses == {"unknown": 3}
    assert len(fake.requests) == 3
    assert events == 3


def test_a_guardrail_error_cancels_the_message_instead_of_stopping_the_worker(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        # A method registered at enqueue time and removed before the send: the guardrail no longer
        # knows it (PC021 at send time). Enqueue itself refuses an unknown method.
        conn.execute("insert into outbound_methods (method, description) values ('newsletter', 'test')")
        assert outbox.pode_enviar_com_dedupe(uuid.uuid4(), "newsletter", None,
                                             {"number": "5511999990000", "text": "x"}, conn=conn)["pode_enviar"]
        conn.execute("delete from outbound_methods where method = 'newsletter'")
        enqueue(conn, 2)
        stats = Worker(settings(db, fake)).run()
        ended = conn.execute("select block_reason from outbound_messages where status = 'cancelled'").fetchall()
    assert ended == [("unknown_method",)], "permanent: it can never go out as it is"
    assert stats["sent"] == 2 and stats["cancelled"] == 1 and len(fake.requests) == 2


def test_payload_is_sent_as_evolution_sendtext_expects(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        conn.execute("select pode_enviar_com_dedupe(gen_random_uuid(), 'followup', null, %s)",
                     (Jsonb({"number": "5511988887777", "text": "Olá, tudo bem?"}),))
        Worker(settings(db, fake)).run()
        row = conn.execute("select status, provider_message_id, dedupe_key from outbound_messages").fetchone()
    assert [(r.number, r.text, r.dedupe_key) for r in fake.requests] == [("5511988887777", "Olá, tudo bem?", row[2])]
    assert row[0] == "sent" and row[1]
