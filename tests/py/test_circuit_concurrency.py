"""The breaker under real parallel connections: exactly one half-open probe, exact failure
counting, one opening. Each caller is its own connection and transaction (as workers are)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

CALLERS = 8


def _race(url: str, sql: str, params: tuple, callers: int = CALLERS) -> list:
    """Runs `sql` on `callers` connections released together by a barrier."""
    conns = [psycopg.connect(url, autocommit=True) for _ in range(callers)]
    barrier = threading.Barrier(callers)

    def call(conn):
        barrier.wait()
        return conn.execute(sql, params).fetchone()[0]

    try:
        with ThreadPoolExecutor(callers) as pool:
            return list(pool.map(call, conns))
    finally:
        for c in conns:
            c.close()


@pytest.fixture
def breaker(database_url):
    name = "race-test"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from circuit_breakers where name = %s", (name,))
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from circuit_breakers where name = %s", (name,))


def test_exactly_one_probe_among_parallel_callers(database_url, breaker):
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(5):
            conn.execute("select circuit_record(%s, false)", (breaker,))
    for round_ in range(15):
        with psycopg.connect(database_url, autocommit=True) as conn:
            # The open period is over: the next circuit_allow callers race for the probe.
            conn.execute("update circuit_breakers set state = 'open', open_until = now() - interval '1 second', "
                         "probe_started_at = null where name = %s", (breaker,))
        granted = _race(database_url, "select circuit_allow(%s)", (breaker,))
        assert granted.count(True) == 1, f"round {round_}: {granted.count(True)} probes granted"
        with psycopg.connect(database_url, autocommit=True) as conn:
            assert conn.execute("select state from circuit_breakers where name = %s", (breaker,)).fetchone()[0] == "half_open"


def test_parallel_failures_are_counted_exactly_and_open_once(database_url, breaker):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select circuit_configure(%s, 20, 60)", (breaker,))
    states = _race(database_url, "select circuit_record(%s, false)", (breaker,), callers=12)
    states += _race(database_url, "select circuit_record(%s, false)", (breaker,), callers=12)
    with psycopg.connect(database_url, autocommit=True) as conn:
        failures, opened, state = conn.execute(
            "select consecutive_failures, times_opened, state from circuit_breakers where name = %s", (breaker,)).fetchone()
    assert failures == 24
    assert opened == 1
    assert state == "open"
    # The 20th failure, whichever caller made it, is the one that opened it.
    assert states.count("closed") == 19 and states.count("open") == 5


def test_a_successful_probe_closes_it_for_everyone(database_url, breaker):
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(5):
            conn.execute("select circuit_record(%s, false)", (breaker,))
        conn.execute("update circuit_breakers set open_until = now() - interval '1 second' where name = %s", (breaker,))
        assert conn.execute("select circuit_allow(%s)", (breaker,)).fetchone()[0] is True
        assert conn.execute("select circuit_record(%s, true)", (breaker,)).fetchone()[0] == "closed"
    assert _race(database_url, "select circuit_allow(%s)", (breaker,)) == [True] * CALLERS
