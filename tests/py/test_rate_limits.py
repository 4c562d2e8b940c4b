"""Rate limits from Python: the keyed hash is standard HMAC-SHA256, the key is per database,
REPEATABLE READ is refused, the per-IP limit holds under 16 connections, and the wrappers
raise our exception classes."""

from __future__ import annotations

import hashlib
import hmac
import threading
import uuid

import psycopg
import pytest

from pgcanary import db, guardrails, rate_limits
from pgcanary.errors import InvalidPhone, InvalidRateLimitSubject, RateLimitIsolation, UnknownMethod
from pgcanary.migrate import migrate


def test_keyed_hash_is_hmac_sha256_under_the_stored_key(database_url):
    with psycopg.connect(database_url) as conn:
        secret = conn.execute("select secret from pgcanary_private.hash_keys where key_name = 'rate_limit'").fetchone()[0]
        ours = conn.execute("select pgcanary_private.keyed_hash('phone:5511912345678')").fetchone()[0]
    assert ours == hmac.new(secret, b"phone:5511912345678", hashlib.sha256).digest()


def test_each_database_gets_its_own_key(database_url, fresh_database):
    migrate(fresh_database)
    keys = []
    for url in (database_url, fresh_database):
        with psycopg.connect(url) as conn:
            keys.append(conn.execute("select secret from pgcanary_private.hash_keys").fetchone()[0])
    assert len(keys[0]) == len(keys[1]) == 32
    assert keys[0] != keys[1]


@pytest.mark.parametrize("call", [
    lambda conn: rate_limits.rate_limit_hit("phone", "5511912340000", conn=conn),
    lambda conn: guardrails.check_outbound_guardrails(uuid.uuid4(), "5511912340000", "followup", conn=conn),
], ids=["rate_limit_hit", "check_outbound_guardrails"])
def test_repeatable_read_is_refused(database_url, call):
    with psycopg.connect(database_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute("update feature_flags set value = 'false' where flag_key = 'pausar_julia'")
        with pytest.raises(RateLimitIsolation) as err:
            call(conn)
        assert err.value.sqlstate == "PC029"
        conn.rollback()


def test_serializable_is_accepted(database_url):
    with psycopg.connect(database_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        assert rate_limits.rate_limit_hit("phone", "5511912340001", conn=conn)["allowed"] is True
        conn.rollback()


def test_sixteen_connections_on_one_ip_get_exactly_thirty_a_minute(database_url):
    ip = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    barrier = threading.Barrier(16)
    allowed: list[bool] = []
    lock = threading.Lock()

    def caller() -> None:
        with psycopg.connect(database_url, autocommit=True, **db.connect_kwargs()) as conn:
            barrier.wait()
            mine = []
            for _ in range(4):
                with conn.transaction():
                    r = rate_limits.rate_limit_hit("handoff_confirm_ip", ip, conn=conn)
                mine.append(r["allowed"])
            with lock:
                allowed.extend(mine)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 64
    assert sum(allowed) == 30


def test_wrappers_raise_our_exception_classes(database_url):
    with psycopg.connect(database_url) as conn:
        with pytest.raises(InvalidPhone) as err:
            guardrails.check_outbound_guardrails(uuid.uuid4(), "not a phone", "followup", conn=conn)
        assert err.value.hint and "10 to 15 digits" in err.value.hint
        conn.rollback()
        with pytest.raises(UnknownMethod):
            guardrails.check_outbound_guardrails(uuid.uuid4(), "5511912340002", "fax", conn=conn)
        conn.rollback()
        with pytest.raises(InvalidRateLimitSubject):
            rate_limits.rate_limit_hit("handoff_confirm_ip", "999.1.1.1", conn=conn)
        conn.rollback()


def test_phone_numbers_never_reach_the_error_message(database_url):
    """An error names the bad value without leaking it: only its first 4 characters."""
    with psycopg.connect(database_url) as conn:
        with pytest.raises(InvalidPhone) as err:
            guardrails.check_outbound_guardrails(uuid.uuid4(), "5511987654321x", "followup", conn=conn)
        conn.rollback()
    assert "87654321" not in str(err.value)
    assert '"5511..."' in str(err.value)


def test_serializable_callers_never_over_admit(database_url):
    """Under SERIALIZABLE the snapshot may predate the lock; Postgres's serializable checks
    turn a would-be over-admission into a serialization failure, which the caller retries."""
    phone = "55319" + str(uuid.uuid4().int)[:8]
    barrier = threading.Barrier(16)
    admitted: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def caller() -> None:
        try:
            with psycopg.connect(database_url, **db.connect_kwargs()) as conn:
                conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
                barrier.wait()
                for _ in range(4):
                    while True:
                        try:
                            conn.execute("select 1")  # the snapshot is taken here, before the lock
                            r = rate_limits.rate_limit_hit("phone", phone, conn=conn)
                            conn.commit()
                            break
                        except psycopg.errors.SerializationFailure:
                            conn.rollback()
                    with lock:
                        admitted.append(r["allowed"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(admitted) == 64
    assert sum(admitted) == 20
