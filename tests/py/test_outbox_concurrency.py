"""Dedupe and claiming under real parallel connections (each its own transaction)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pgcanary import outbox
from pgcanary.errors import InvalidOutboxArgument

PAYLOAD = {"number": "5511999990000", "text": "Olá"}


def _together(url: str, n: int, fn) -> list:
    conns = [psycopg.connect(url, autocommit=True) for _ in range(n)]
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(conns[i], i)

    try:
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(run, range(n)))
    finally:
        for c in conns:
            c.close()


@pytest.fixture
def clean_outbox(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from outbound_messages")
    yield database_url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from outbound_messages")


def test_eight_connections_enqueue_the_same_message_once(clean_outbox):
    for round_ in range(10):
        cliente = uuid.uuid4()
        answers = _together(clean_outbox, 8, lambda conn, i: outbox.pode_enviar_com_dedupe(
            cliente, "campaign", f"vaga-{round_}", PAYLOAD, conn=conn))
        assert sum(a["pode_enviar"] for a in answers) == 1, answers
        winner = next(a for a in answers if a["pode_enviar"])
        assert all(a["motivo"] == "duplicata" and a["duplicate_of"] == winner["message_id"]
                   for a in answers if not a["pode_enviar"])
        with psycopg.connect(clean_outbox) as conn:
            assert conn.execute("select count(*) from outbound_messages where cliente_id = %s", (cliente,)).fetchone()[0] == 1


def test_window_is_exact_when_callers_straddle_the_hour(clean_outbox):
    """Half the callers see a message of the previous hour (its key differs from theirs), the
    other half race to enqueue the same scope now: none may get through."""
    for _ in range(5):
        cliente = uuid.uuid4()
        with psycopg.connect(clean_outbox, autocommit=True) as conn:
            conn.execute(
                "insert into outbound_messages (dedupe_key, cliente_id, method, template_ref, payload, created_at) "
                "select gerar_dedupe_key(%s, 'followup', 't', t), %s, 'followup', 't', %s, t "
                # in the previous hour and inside the window, wherever now() falls
                "from (select date_trunc('hour', now()) - (date_trunc('hour', now()) - (now() - interval '60 minutes')) / 2) x(t)",
                (cliente, cliente, Jsonb(PAYLOAD)))
        answers = _together(clean_outbox, 8, lambda conn, i: outbox.pode_enviar_com_dedupe(
            cliente, "followup", "t", PAYLOAD, conn=conn))
        assert not any(a["pode_enviar"] for a in answers)


def test_different_scopes_in_parallel_are_all_accepted(clean_outbox):
    cliente = uuid.uuid4()
    answers = _together(clean_outbox, 8, lambda conn, i: outbox.pode_enviar_com_dedupe(
        cliente, "campaign", f"template-{i}", PAYLOAD, conn=conn))
    assert all(a["pode_enviar"] for a in answers)


def test_parallel_claimers_never_share_a_message(clean_outbox):
    with psycopg.connect(clean_outbox, autocommit=True) as conn:
        conn.execute("select count(pode_enviar_com_dedupe(gen_random_uuid(), 'followup', null, %s)) "
                     "from generate_series(1, 600)", (Jsonb(PAYLOAD),))

    def drain(conn, i):
        mine = []
        while batch := outbox.outbox_claim(f"w{i}", 7, 60, conn=conn):
            mine += [m["id"] for m in batch]
        return mine

    claimed = _together(clean_outbox, 6, drain)
    every = [m for mine in claimed for m in mine]
    assert len(every) == 600
    assert len(set(every)) == 600
    assert sum(1 for mine in claimed if mine) > 1, "one claimer took everything: SKIP LOCKED was not exercised"


def test_bad_input_raises_our_class_and_changes_nothing(clean_outbox):
    with psycopg.connect(clean_outbox, autocommit=True) as conn:
        with pytest.raises(InvalidOutboxArgument) as err:
            outbox.pode_enviar_com_dedupe(uuid.uuid4(), "campaign", None, {"number": "12", "text": "x"}, conn=conn)
        assert err.value.hint and "number" in err.value.hint
        assert "12" not in str(err.value), "the error must not echo the phone number"
        assert conn.execute("select count(*) from outbound_messages").fetchone()[0] == 0
