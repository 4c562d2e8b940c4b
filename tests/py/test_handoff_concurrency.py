"""Two (or sixteen) handoffs opened at once for one vaga: the constraint lets exactly one win;
every other caller gets HandoffConflict (PC025), never a second active handoff."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from pgcanary import db, handoff
from pgcanary.errors import HandoffConflict


@pytest.fixture
def handoff_on(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = conn.execute("select value from feature_flags where flag_key = 'external_handoff'").fetchone()[0]
        handoff.toggle_ponte_externa("on", None, "test: handoff concurrency", conn=conn)
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update feature_flags set value = %s where flag_key = 'external_handoff'",
                     (psycopg.types.json.Jsonb(before),))


def _active(database_url: str, vaga: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("select count(*) from external_handoffs where vaga_id = %s and status in ('pending', 'confirmed')",
                            (vaga,)).fetchone()[0]


def test_two_opens_at_once_for_one_vaga_one_wins(database_url, handoff_on):
    """The second open runs while the first is still uncommitted: it waits on the constraint
    and fails with PC025 once the first commits."""
    vaga = str(uuid.uuid4())
    first = psycopg.connect(database_url, **db.connect_kwargs())
    second = psycopg.connect(database_url, autocommit=True, **db.connect_kwargs())
    outcome: dict[str, object] = {}
    try:
        opened = handoff.open_handoff(vaga, uuid.uuid4(), conn=first)  # open transaction, not committed

        def other() -> None:
            try:
                outcome["result"] = handoff.open_handoff(vaga, uuid.uuid4(), conn=second)
            except Exception as exc:
                outcome["error"] = exc

        t = threading.Thread(target=other)
        t.start()
        # Wait until the second open is blocked by the first's uncommitted row.
        with psycopg.connect(database_url, autocommit=True) as watch:
            for _ in range(200):
                waiting = watch.execute("select count(*) from pg_stat_activity where pid = %s and wait_event_type = 'Lock'",
                                        (second.info.backend_pid,)).fetchone()[0]
                if waiting:
                    break
                time.sleep(0.01)
        assert waiting == 1, "the second open should wait for the first"
        first.commit()
        t.join(10)
        assert not t.is_alive()
    finally:
        first.close()
        second.close()
    assert "result" not in outcome
    assert isinstance(outcome["error"], HandoffConflict)
    assert outcome["error"].sqlstate == "PC025"
    assert str(opened["handoff_id"]) in (outcome["error"].detail or "")
    assert _active(database_url, vaga) == 1


def test_if_the_first_rolls_back_the_waiting_open_wins(database_url, handoff_on):
    vaga = str(uuid.uuid4())
    first = psycopg.connect(database_url, **db.connect_kwargs())
    second = psycopg.connect(database_url, autocommit=True, **db.connect_kwargs())
    outcome: dict[str, object] = {}
    try:
        handoff.open_handoff(vaga, uuid.uuid4(), conn=first)
        t = threading.Thread(target=lambda: outcome.setdefault("result", handoff.open_handoff(vaga, uuid.uuid4(), conn=second)))
        t.start()
        time.sleep(0.2)
        first.rollback()
        t.join(10)
    finally:
        first.close()
        second.close()
    assert outcome["result"]["status"] == "pending"
    assert _active(database_url, vaga) == 1


def test_sixteen_opens_at_once_exactly_one_wins(database_url, handoff_on):
    vaga = str(uuid.uuid4())
    barrier = threading.Barrier(16)
    wins: list[dict] = []
    conflicts: list[HandoffConflict] = []
    others: list[BaseException] = []
    lock = threading.Lock()

    def caller() -> None:
        with psycopg.connect(database_url, autocommit=True, **db.connect_kwargs()) as conn:
            barrier.wait()
            try:
                r = handoff.open_handoff(vaga, uuid.uuid4(), conn=conn)
                with lock:
                    wins.append(r)
            except HandoffConflict as exc:
                with lock:
                    conflicts.append(exc)
            except BaseException as exc:
                with lock:
                    others.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not others, others
    assert len(wins) == 1
    assert len(conflicts) == 15
    assert _active(database_url, vaga) == 1
