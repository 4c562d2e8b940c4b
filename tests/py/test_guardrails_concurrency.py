"""check_outbound_guardrails under real concurrency: 16 connections, 50 sends each, one phone.

Exactly 20 must be admitted in the hour (no over-admission, no under-admission) and every
other call must be blocked with rate_limited. Each call is its own transaction, as a
PostgREST RPC is.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest

from pgcanary import db, guardrails

CALLERS = 16
SENDS_EACH = 50


@pytest.fixture
def kill_switches_off(database_url):
    """Other tests may leave the shared database paused; this test needs sends to flow."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update feature_flags set value = 'false' where flag_key = 'pausar_julia'")
    yield


def _burst(database_url: str, cliente_id: str, phone: str, hold: float) -> list[dict]:
    barrier = threading.Barrier(CALLERS)
    results: list[dict] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def caller() -> None:
        try:
            mine = []
            with psycopg.connect(database_url, autocommit=True, **db.connect_kwargs()) as conn:
                barrier.wait()
                for _ in range(SENDS_EACH):
                    with conn.transaction():
                        r = guardrails.check_outbound_guardrails(cliente_id, phone, "followup", conn=conn)
                        if r["allowed"] and hold:
                            time.sleep(hold)  # the caller queues its message before committing
                    mine.append(r)
            with lock:
                results.extend(mine)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


# hold=0: each call is its own transaction, as a PostgREST RPC is. hold>0: the caller checks
# and then does its own work (queues the message) before committing, which widens the window
# between the count and the commit: without the per-phone lock this over-admits every time.
@pytest.mark.parametrize("hold", [0, 0.005], ids=["rpc-per-call", "check-then-queue"])
def test_sixteen_callers_on_one_phone_admit_exactly_twenty(database_url, kill_switches_off, hold):
    cliente_id = str(uuid.uuid4())
    phone = "55119" + str(uuid.uuid4().int)[:8]  # a phone no other test uses
    results = _burst(database_url, cliente_id, phone, hold)

    assert len(results) == CALLERS * SENDS_EACH
    outcomes = Counter(r["block_reason"] if not r["allowed"] else "allowed" for r in results)
    assert outcomes == {"allowed": 20, "rate_limited": CALLERS * SENDS_EACH - 20}

    with psycopg.connect(database_url) as conn:
        hits = conn.execute("select count(*) from rate_limit_hits where key_hash = pgcanary_private.keyed_hash(%s)",
                            ("phone:" + phone,)).fetchone()[0]
        blocked_events = conn.execute(
            "select count(*) from business_events where cliente_id = %s and event_type = 'outbound_blocked'"
            " and event_props ->> 'block_reason' = 'rate_limited'", (cliente_id,)).fetchone()[0]
    assert hits == 20
    assert blocked_events == CALLERS * SENDS_EACH - 20


def test_concurrent_bypasses_are_all_admitted_and_fill_the_phones_hour(database_url, kill_switches_off):
    """Bypassed sends pass the limit but are counted: after 20 of them, from 4 connections
    at once, 16 connections of normal sends get nothing through."""
    cliente_id = str(uuid.uuid4())
    phone = "55219" + str(uuid.uuid4().int)[:8]

    def run(threads: int, each: int, bypass_reason: str | None) -> list[dict]:
        barrier = threading.Barrier(threads)
        out: list[dict] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def caller() -> None:
            try:
                with psycopg.connect(database_url, autocommit=True, **db.connect_kwargs()) as conn:
                    barrier.wait()
                    mine = [guardrails.check_outbound_guardrails(cliente_id, phone, "followup",
                                                                 bypass_reason=bypass_reason, conn=conn)
                            for _ in range(each)]
                with lock:
                    out.extend(mine)
            except BaseException as exc:
                errors.append(exc)

        ts = [threading.Thread(target=caller) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors, errors
        return out

    bypassed = run(4, 5, "confirmacao de plantao")
    assert [r["allowed"] and r["bypassed"] for r in bypassed] == [True] * 20
    normal = run(CALLERS, 5, None)
    assert Counter(r["block_reason"] for r in normal) == {"rate_limited": CALLERS * 5}
    with psycopg.connect(database_url) as conn:
        hits = conn.execute("select count(*) from rate_limit_hits where key_hash = pgcanary_private.keyed_hash(%s)",
                            ("phone:" + phone,)).fetchone()[0]
        bypass_events = conn.execute("select count(*) from business_events where cliente_id = %s"
                                     " and event_type = 'outbound_bypass'", (cliente_id,)).fetchone()[0]
    assert hits == 20
    assert bypass_events == 20
