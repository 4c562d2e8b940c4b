"""Business events from Python and under concurrency (functions/events.sql, docs/events.md):
the wrappers never raise into the caller and log no parameters, concurrent emitters lose
nothing, the hourly rollup stays exact while backdated rows race with its refresh, and the
migration rolls back and refuses to adopt a foreign business_events table.

These tests commit rows, so they run in a database of their own (the shared one is left to
the pgTAP files, which count events)."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid

import psycopg
import pytest
from yoyo import get_backend, read_migrations

from pgcanary import db, events
from pgcanary.migrate import MIGRATIONS_SCHEMA, ROOT, _yoyo_url, migrate

PHONE = "+55 (11) 98765-4321"


@pytest.fixture(scope="module")
def events_db(pg_server):
    name = "ev_" + uuid.uuid4().hex[:10]
    admin = pg_server.url(database="postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'create database "{name}"')
    url = pg_server.url(database=name)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'drop database "{name}" with (force)')


@pytest.fixture
def conn(events_db):
    with psycopg.connect(events_db, autocommit=True) as c:
        c.execute("delete from business_events")
        c.execute("update feature_flags set value = '{\"enabled\": true, \"percentage\": 100, \"force_on\": []}' "
                  "where flag_key = 'business_events_canary'")
        yield c


def count(c: psycopg.Connection, where: str = "true") -> int:
    return c.execute(f"select count(*) from business_events where {where}").fetchone()[0]


def test_emit_event_returns_the_id_or_none_when_the_rollout_skips(conn):
    client = uuid.uuid4()
    event_id = events.emit_event("offer_made", client, None, {"vaga_id": "v-1", "telefone": PHONE}, conn=conn)
    assert uuid.UUID(event_id)
    assert conn.execute("select event_props from business_events where event_id = %s::uuid",
                        (event_id,)).fetchone()[0] == {"vaga_id": "v-1", "telefone_prefix": "5511"}
    conn.execute("select pgcanary_private.set_percentage('business_events_canary', 0, 'test')")
    assert events.emit_event("offer_made", client, conn=conn) is None
    assert events.emit_event("offer_made", None, conn=conn) is not None  # no client: always emitted
    assert count(conn) == 2


def test_emit_never_raises_and_logs_no_parameters(conn, caplog):
    client = uuid.uuid4()
    caplog.set_level(logging.WARNING, logger="pgcanary.events")
    assert events.emit_event("no_such_type", client, None, {"telefone": PHONE}, conn=conn) is None
    assert events.emit_event("opt_in", "not-a-uuid", conn=conn) is None
    assert events.emit_event("opt_in", client, None, {"blob": "x" * 9000}, conn=conn) is None
    assert events.emit_events([{"event_type": "opt_in", "cliente_id": str(client), "event_props": {"telefone": PHONE}},
                               {"event_type": "nope"}], conn=conn) is None
    assert count(conn) == 0
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4
    assert "UnknownEventType (SQLSTATE PC010)" in messages[0] and "'no_such_type'" in messages[0]
    assert "SQLSTATE 22P02" in messages[1]
    assert "EventPropsTooLarge (SQLSTATE PC012)" in messages[2]
    assert "batch of 2" in messages[3]
    logged = "\n".join(messages) + "".join(str(r.args) for r in caplog.records)
    for secret in (str(client), "98765", "not-a-uuid", "xxxx"):
        assert secret not in logged


def test_a_refused_event_does_not_abort_the_callers_transaction(events_db):
    with psycopg.connect(events_db) as c:  # not autocommit: the caller owns the transaction
        c.execute("create temp table work (step int)")
        c.execute("insert into work values (1)")
        assert events.emit_event("no_such_type", uuid.uuid4(), conn=c) is None
        ok = events.emit_event("opt_in", None, conn=c)
        c.execute("insert into work values (2)")
        c.commit()
        assert c.execute("select array_agg(step order by step) from work").fetchone()[0] == [1, 2]
        assert c.execute("select count(*) from business_events where event_id = %s::uuid", (ok,)).fetchone()[0] == 1


def test_emit_returns_none_quickly_when_the_database_is_unreachable(monkeypatch, caplog):
    with socket_closed_port() as port:
        monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/none?connect_timeout=1")
        monkeypatch.setattr(events, "EMIT_POOL_TIMEOUT", 0.5)
        db.close_pool()
        logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
        try:
            started = time.monotonic()
            assert events.emit_event("opt_in", uuid.uuid4()) is None
            assert time.monotonic() - started < 5
        finally:
            db.close_pool()
    assert any("PoolTimeout" in r.getMessage() for r in caplog.records)


class socket_closed_port:
    """A local port with nothing listening."""

    def __enter__(self) -> int:
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc):
        return False


def test_emit_events_wrapper_returns_ids_in_order(conn):
    conn.execute("select pgcanary_private.set_percentage('business_events_canary', 50, 'test')")
    clients = [uuid.uuid4() for _ in range(200)]
    ids = events.emit_events([{"event_type": "offer_made", "cliente_id": cl} for cl in clients], conn=conn)
    expected = [conn.execute("select public.should_emit_event(%s::uuid, 'offer_made')", (str(cl),)).fetchone()[0]
                for cl in clients]
    assert [i is not None for i in ids] == expected
    assert count(conn) == sum(expected)
    assert 40 < sum(expected) < 160


def test_concurrent_emitters_lose_nothing(events_db, conn):
    threads, per_thread = 8, 60
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with psycopg.connect(events_db, autocommit=True) as c:
                for i in range(per_thread):
                    assert events.emit_event("outbound_sent", uuid.uuid4(), None,
                                             {"method": "campaign", "phone": f"55119{n}{i:07d}"}, conn=c)
                batch = [{"event_type": "outbound_blocked", "cliente_id": uuid.uuid4(),
                          "event_props": {"block_reason": "rate_limited", "telefone": PHONE}} for _ in range(per_thread)]
                assert all(events.emit_events(batch, conn=c))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    assert count(conn) == threads * per_thread * 2
    assert count(conn, "event_props::text ~ '[0-9]{5}'") == 0  # only 4-digit prefixes remain


def test_rollup_stays_exact_while_backdated_rows_race_with_refresh(events_db, conn):
    """Writers insert rows into hours the rollup has sealed (and current ones) while another
    connection refreshes the rollup in a loop; afterwards the metrics equal Q1's counts."""
    conn.execute("select public.refresh_event_rollup()")
    stop = threading.Event()
    errors: list[BaseException] = []
    refreshed = []

    def writer(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            with psycopg.connect(events_db) as c:
                for _ in range(40):
                    with c.transaction():
                        for _ in range(rnd.randint(1, 5)):
                            hours = rnd.choice([0, 0, 1, 2, 3, 5, 12, 23, 25])
                            c.execute("insert into business_events (ts, event_type) values "
                                      "(now() - make_interval(hours => %s, mins => %s), %s)",
                                      (hours, rnd.randint(0, 59), rnd.choice(["opt_in", "opt_out", "outbound_sent"])))
                        time.sleep(rnd.random() / 200)
        except BaseException as exc:
            errors.append(exc)

    def refresher() -> None:
        try:
            with psycopg.connect(events_db, autocommit=True) as c:
                while not stop.is_set():
                    refreshed.append(c.execute("select public.refresh_event_rollup() ->> 'refreshed'").fetchone()[0])
        except BaseException as exc:
            errors.append(exc)

    r = threading.Thread(target=refresher)
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    r.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    r.join()
    assert not errors
    assert "true" in refreshed
    status = conn.execute("select public.get_rollout_status()").fetchone()[0]
    truth = dict(conn.execute("select event_type, count(*) from business_events "
                              "where ts >= now() - interval '24 hours' group by 1").fetchall())
    assert status["events_by_type_24h"] == truth
    assert status["events_last_hour"] == count(conn, "ts >= now() - interval '1 hour'")


def test_register_jobs_adds_the_scheduler_jobs():
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    ids = events.register_jobs(scheduler, slack_webhook_url="http://127.0.0.1:9/hook", retain_days=45)
    assert ids == ["events_refresh_rollup", "events_maintain_partitions", "events_rollout_report"]
    assert scheduler.get_job("events_maintain_partitions").kwargs == {"retain_days": 45}
    assert events.register_jobs(BackgroundScheduler(timezone="UTC")) == ["events_refresh_rollup",
                                                                          "events_maintain_partitions"]


# ---------------------------------------------------------------------------------------
# The migration


def _rollback_0002(url: str) -> None:
    backend = get_backend(_yoyo_url(url) + f"?schema={MIGRATIONS_SCHEMA}")
    # 0006 builds on business_events (its writer role and gate): it goes first.
    migrations = read_migrations(str(ROOT / "db")).filter(
        lambda m: m.id in ("0002_business_events", "0006_business_events_writer"))
    with backend.lock():
        backend.rollback_migrations(backend.to_rollback(migrations))


def test_0002_rolls_back_cleanly_and_applies_again(fresh_database):
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as c:
        c.execute("select public.emit_event('opt_in')")
    _rollback_0002(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as c:
        left = c.execute("""select coalesce(array_agg(c.oid::regclass::text), '{}') from pg_class c
                            where c.relname like 'business_event%'""").fetchone()[0]
        assert left == []
        fns = c.execute("""select coalesce(array_agg(p.oid::regprocedure::text), '{}') from pg_proc p
                           where p.proname in ('emit_event', 'emit_events', 'record_event', 'scrub_pii',
                                               'rollout_event_metrics', 'emit_event_trigger')""").fetchone()[0]
        assert fns == []
        status = c.execute("select public.get_rollout_status()").fetchone()[0]
        assert status["flag_key"] == "business_events_canary" and "events_last_hour" not in status
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as c:
        assert c.execute("select public.emit_event('opt_in') is not null").fetchone()[0]
        assert "events_last_hour" in c.execute("select public.get_rollout_status()").fetchone()[0]


def test_an_existing_business_events_table_is_not_adopted(fresh_database):
    with psycopg.connect(fresh_database, autocommit=True) as c:
        c.execute("create table public.business_events (event_id uuid primary key, event_type text, ts timestamptz)")
        c.execute("insert into public.business_events values (gen_random_uuid(), 'legacy', now())")
    with pytest.raises(Exception) as caught:
        migrate(fresh_database)
    assert getattr(caught.value, "sqlstate", None) == "PC019" or "PC019" in repr(caught.value) \
        or "already exists and is not ours" in str(caught.value)
    with psycopg.connect(fresh_database, autocommit=True) as c:
        assert c.execute("select count(*) from public.business_events where event_type = 'legacy'").fetchone()[0] == 1
        assert c.execute("select to_regclass('public.business_event_types')").fetchone()[0] is None


def test_registering_a_type_while_writers_hold_the_table_takes_no_lock_on_it(events_db, conn):
    """register_event_type writes one registry row: no DDL on business_events, so writers
    holding the table never make it wait, and every path accepts the type at once."""
    name = "busy_" + uuid.uuid4().hex[:8]
    with psycopg.connect(events_db) as writer:  # an open transaction holding RowExclusiveLock
        writer.execute("insert into business_events (event_type) values ('opt_in')")
        conn.execute("set lock_timeout = '200ms'")
        assert conn.execute("select public.register_event_type(%s, 'ops', 'registered while busy')",
                            (name,)).fetchone()[0] is True
        conn.execute("reset lock_timeout")
        assert events.emit_event(name, uuid.uuid4(), None, {"telefone": PHONE}, conn=conn) is not None
        conn.execute("insert into business_events (event_type, event_props) values (%s, %s::jsonb)",
                     (name, '{"phone": "%s"}' % PHONE))
        writer.rollback()
    stored = [r[0] for r in conn.execute("select event_props from business_events where event_type = %s order by ts", (name,))]
    assert stored == [{"telefone_prefix": "5511"}, {"telefone_prefix": "5511"}]


def test_the_gate_follows_flag_writes_racing_each_other(events_db, conn):
    """emit_event reads the rollout from a gate row that feature_flags' statement trigger
    rewrites. Two connections write the two flags it derives from at the same time (the
    seed's raw UPDATE of the master switch, the RPC for the percentage); after every round
    the gate must say what the committed flags say, and emit_event must agree with
    should_emit_event."""
    clients = [uuid.uuid4() for _ in range(300)]
    stop_at = time.monotonic() + 6
    errors: list[BaseException] = []

    def flip_master() -> None:
        try:
            with psycopg.connect(events_db, autocommit=True) as c:
                on = True
                while time.monotonic() < stop_at:
                    on = not on
                    c.execute("update feature_flags set value = %s::jsonb where flag_key = 'business_events_enabled'",
                              ("true" if on else "false",))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def move_percentage() -> None:
        try:
            with psycopg.connect(events_db, autocommit=True) as c:
                while time.monotonic() < stop_at:
                    c.execute("select pgcanary_private.set_percentage('business_events_canary', %s, 'gate race test')",
                              (random.choice([0, 2, 10, 50, 100]),))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=flip_master), threading.Thread(target=move_percentage)]
    for t in threads:
        t.start()
    rounds = 0
    while any(t.is_alive() for t in threads):
        with conn.transaction():
            master, pct, gate = conn.execute(
                """select (select value from feature_flags where flag_key = 'business_events_enabled'),
                          (select (value ->> 'percentage')::int from feature_flags where flag_key = 'business_events_canary'),
                          (select percentage from pgcanary_private.business_event_gate where cohort = 'business_events')""").fetchone()
        assert gate == (pct if master is True else 0), f"gate {gate} for master {master}, percentage {pct}"
        rounds += 1
    for t in threads:
        t.join()
    assert not errors, errors
    assert rounds > 20
    with conn.transaction():
        emitted = [conn.execute("select emit_event('offer_made', %s) is not null", (c,)).fetchone()[0] for c in clients]
        expected = [conn.execute("select should_emit_event(%s, 'offer_made')", (c,)).fetchone()[0] for c in clients]
    assert emitted == expected
