"""The OpenFeature provider through the real SDK (openfeature-sdk) against the session database:
each SQL reason maps to its OpenFeature reason, each error returns the caller's default with
its code, and a kill acts on the next evaluation."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from psycopg.types.json import Jsonb

from pgcanary.openfeature import PgcanaryProvider

FLAG = "of_test_canary"
CLIENT = uuid.UUID("0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b")


@pytest.fixture
def flags(database_url):
    made = []

    def put(key, value):
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("insert into feature_flags (flag_key, value) values (%s, %s) "
                         "on conflict (flag_key) do update set value = excluded.value", (key, Jsonb(value)))
        made.append(key)

    yield put
    with psycopg.connect(database_url, autocommit=True) as conn:
        for key in made:
            conn.execute("delete from feature_flags where flag_key = %s", (key,))


@pytest.fixture
def client(database_url):
    provider = PgcanaryProvider(database_url=database_url)
    api.set_provider_and_wait(provider)
    yield api.get_client()
    api.shutdown()


def ctx(key):
    return EvaluationContext(targeting_key=None if key is None else str(key))


def test_split_matches_the_sql_decision(client, flags, database_url):
    flags(FLAG, {"enabled": True, "percentage": 50})
    ids = [uuid.uuid4() for _ in range(40)]
    with psycopg.connect(database_url) as conn:
        expected = [conn.execute("select is_enabled(%s, %s)", (FLAG, i)).fetchone()[0] for i in ids]
    details = [client.get_boolean_details(FLAG, not e, ctx(i)) for i, e in zip(ids, expected)]
    assert [d.value for d in details] == expected
    assert {d.reason for d in details} == {Reason.SPLIT}
    assert all(d.error_code is None and 0 <= d.flag_metadata["bucket"] < 100 for d in details)
    assert True in expected and False in expected  # both branches were exercised


def test_allowlist_static_and_disabled(client, flags):
    flags(FLAG, {"enabled": True, "percentage": 0, "force_on": [str(CLIENT)]})
    d = client.get_boolean_details(FLAG, False, ctx(CLIENT))
    assert (d.value, d.reason, d.variant) == (True, Reason.TARGETING_MATCH, "on")
    flags(FLAG, {"enabled": True, "percentage": 100})
    assert client.get_boolean_details(FLAG, False, ctx(CLIENT)).reason == Reason.STATIC
    flags("of_test_static", True)
    assert client.get_boolean_details("of_test_static", False, ctx(CLIENT)).reason == Reason.STATIC
    flags(FLAG, {"enabled": False, "percentage": 100})
    d = client.get_boolean_details(FLAG, True, ctx(CLIENT))
    assert (d.value, d.reason, d.error_code) == (False, Reason.DISABLED, None)


def test_a_kill_acts_on_the_next_evaluation(client, flags, database_url):
    flags(FLAG, {"enabled": True, "percentage": 100})
    assert client.get_boolean_value(FLAG, False, ctx(CLIENT)) is True
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select kill_flag(%s, 'test')", (FLAG,))
    d = client.get_boolean_details(FLAG, True, ctx(CLIENT))
    assert (d.value, d.reason) == (False, Reason.DISABLED)


@pytest.mark.parametrize("default", [True, False])
def test_errors_return_the_default_with_their_code(client, flags, database_url, default):
    flags(FLAG, {"enabled": True, "percentage": 100})
    cases = {
        ErrorCode.FLAG_NOT_FOUND: lambda: client.get_boolean_details("of_no_such_flag", default, ctx(CLIENT)),
        ErrorCode.TARGETING_KEY_MISSING: lambda: client.get_boolean_details(FLAG, default, ctx(None)),
        ErrorCode.INVALID_CONTEXT: lambda: client.get_boolean_details(FLAG, default, ctx("not-a-uuid")),
    }
    for code, call in cases.items():
        d = call()
        assert (d.value, d.reason, d.error_code) == (default, Reason.ERROR, code), code
        assert "not-a-uuid" not in (d.error_message or "")
    # A bad stored value (written past validation, as an adopted table may hold).
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("alter table feature_flags disable trigger feature_flags_before_write")
        try:
            conn.execute("update feature_flags set value = '{\"enabled\": true, \"percentage\": \"x\"}' "
                         "where flag_key = %s", (FLAG,))
        finally:
            conn.execute("alter table feature_flags enable trigger feature_flags_before_write")
    d = client.get_boolean_details(FLAG, default, ctx(CLIENT))
    assert (d.value, d.error_code) == (default, ErrorCode.PARSE_ERROR)


def test_non_boolean_requests_are_a_type_mismatch(client, flags):
    flags(FLAG, {"enabled": True, "percentage": 100})
    for d in (client.get_string_details(FLAG, "x", ctx(CLIENT)), client.get_integer_details(FLAG, 7, ctx(CLIENT)),
              client.get_float_details(FLAG, 1.5, ctx(CLIENT)), client.get_object_details(FLAG, {"a": 1}, ctx(CLIENT))):
        assert d.error_code == ErrorCode.TYPE_MISMATCH and d.reason == Reason.ERROR
    assert client.get_string_value(FLAG, "x", ctx(CLIENT)) == "x"


def test_a_lost_database_returns_the_default(flags):
    provider = PgcanaryProvider(database_url="postgresql://127.0.0.1:1/none?connect_timeout=1")
    provider._pool.timeout = 1
    try:
        d = provider.resolve_boolean_details(FLAG, True, ctx(CLIENT))
        assert (d.value, d.error_code) == (True, ErrorCode.GENERAL)
        # Through the SDK the default comes back too (its own status may answer first).
        api.set_provider_and_wait(provider)
        assert api.get_client().get_boolean_details(FLAG, True, ctx(CLIENT)).value is True
    finally:
        api.shutdown()


def test_a_caller_connection_or_pool(flags, database_url):
    from psycopg_pool import ConnectionPool

    flags(FLAG, {"enabled": True, "percentage": 100})
    with psycopg.connect(database_url, autocommit=True) as conn:
        d = PgcanaryProvider(connection=conn).resolve_boolean_details(FLAG, False, ctx(CLIENT))
        assert (d.value, d.reason) == (True, Reason.STATIC)
    with ConnectionPool(database_url, kwargs={"autocommit": True}) as pool:
        d = PgcanaryProvider(pool=pool).resolve_boolean_details(FLAG, False, ctx(CLIENT))
        assert (d.value, d.reason) == (True, Reason.STATIC)
    with pytest.raises(ValueError):
        PgcanaryProvider()
