"""Evaluation reports for stale_flags (functions/stale_flags.sql): pgcanary.flags and the
OpenFeature provider tell note_flag_evaluations which flags they evaluated, at most once per
interval, and a failing report never reaches the caller nor breaks its transaction."""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from psycopg.types.json import Jsonb

from pgcanary import flags, health
from pgcanary.flags import EvaluationReport
from pgcanary.migrate import migrate
from pgcanary.openfeature import PgcanaryProvider

CLIENT = uuid.UUID("0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b")


@pytest.fixture
def db(fresh_database, monkeypatch):
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        for key in ("sf_a", "sf_b"):
            conn.execute("insert into feature_flags (flag_key, value, description) values (%s, %s, 'test')",
                         (key, Jsonb({"enabled": True, "percentage": 50})))
    monkeypatch.setenv("PGCANARY_DATABASE_URL", fresh_database)
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    return fresh_database


def reported(conn) -> dict[str, object]:
    return dict(conn.execute("select flag_key, last_evaluated_at from flag_evaluations").fetchall())


def test_the_first_evaluation_reports_then_at_most_once_per_interval(db, monkeypatch):
    report = EvaluationReport(every=3600)
    monkeypatch.setattr(flags, "REPORT", report)
    with psycopg.connect(db, autocommit=True) as conn:
        for _ in range(50):
            flags.is_enabled("sf_a", CLIENT, conn=conn)
        flags.evaluate_flag("sf_b", CLIENT, conn=conn)
        assert set(reported(conn)) == {"sf_a"}, "one report at the first evaluation, none within the interval"
        report._last = float("-inf")  # the interval has passed
        flags.is_enabled("sf_a", CLIENT, conn=conn)
        assert set(reported(conn)) == {"sf_a", "sf_b"}, "the next report carries every key seen since"


def test_a_failing_report_is_logged_and_the_callers_transaction_goes_on(db, monkeypatch, caplog):
    report = EvaluationReport(every=0)
    monkeypatch.setattr(flags, "REPORT", report)
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute("alter function note_flag_evaluations(text[]) rename to note_flag_evaluations_gone")
    with psycopg.connect(db) as conn, caplog.at_level(logging.WARNING, logger="pgcanary.flags"):
        conn.execute("create temp table callers_work (x int)")
        conn.execute("insert into callers_work values (1)")
        assert flags.is_enabled("sf_a", CLIENT, conn=conn) in (True, False)
        assert conn.execute("select count(*) from callers_work").fetchone()[0] == 1, "the transaction is alive"
        conn.commit()
    assert "flag evaluation report failed: UndefinedFunction" in caplog.text
    assert report._pending == {"sf_a"}, "the key waits for the next report"
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("alter function note_flag_evaluations_gone(text[]) rename to note_flag_evaluations")
        flags.is_enabled("sf_b", CLIENT, conn=conn)
        assert set(reported(conn)) == {"sf_a", "sf_b"}


def test_the_openfeature_provider_reports_what_it_evaluates(db, monkeypatch):
    monkeypatch.setattr(flags, "REPORT", EvaluationReport(every=3600))
    monkeypatch.setattr("pgcanary.openfeature.REPORT", flags.REPORT)
    api.set_provider_and_wait(PgcanaryProvider(database_url=db))
    try:
        details = api.get_client().get_boolean_details("sf_b", False, EvaluationContext(targeting_key=str(CLIENT)))
    finally:
        api.shutdown()
    assert details.error_code is None
    with psycopg.connect(db) as conn:
        assert set(reported(conn)) == {"sf_b"}


def test_the_daily_slack_panel_lists_stale_flags(db):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("update feature_flags set created_at = now() - interval '30 days' where flag_key = 'sf_b'")
        conn.execute("update feature_flags set description = '' where flag_key = 'sf_a'")
        conn.execute("select note_flag_evaluations(flag_keys => array['sf_a'])")
        text = health.format_daily_health(health.daily_health(conn=conn))
    lines = text.splitlines()
    stale = [line for line in lines if line.startswith("*Flags paradas:*")]
    assert stale and stale[0].startswith("*Flags paradas:* ") and int(stale[0].split()[2]) >= 2, text
    assert "  • sf_b: flag_not_evaluated" in lines and "  • sf_a: flag_without_description" in lines, text
