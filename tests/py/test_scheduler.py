"""The scheduler: the schedule file, every job against a real database, Slack over real HTTP
(a local server standing in for the incoming webhook), one JSON log line per run, and a
failing job that alerts while the scheduler keeps running."""

from __future__ import annotations

import http.server
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from pgcanary import db, scheduler
from pgcanary.migrate import migrate

LEAKED2 = "6b6b6b6b-0000-4000-8000-00000000cafe"
LEAKED = "5a5a5a5a-0000-4000-8000-00000000beef"


class FakeSlack:
    """An incoming-webhook endpoint on 127.0.0.1 that records the text of every POST."""

    def __init__(self, status: int = 200):
        self.texts: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.texts.append(json.loads(body)["text"])
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"invalid_payload")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/X"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def sched_db(pg_server):
    """A database of its own (the jobs commit), reached through pgcanary.db's pool."""
    name = "sched_" + uuid.uuid4().hex[:8]
    admin = pg_server.url(database="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = pg_server.url(database=name)
    migrate(url)
    db.close_pool()
    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        yield url
    finally:
        db.close_pool()
        if old is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = old
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database "{name}" with (force)')


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def _ctx(fake: FakeSlack) -> scheduler.Context:
    return scheduler.Context(notify=scheduler.slack_notifier(fake.url), webhook_url=fake.url)


def _lines(caplog) -> list[dict]:
    return [r.job_run for r in caplog.records if r.name == "pgcanary.scheduler" and hasattr(r, "job_run")]


# ------------------------------------------------------------------------------------------
# The schedule file.

def test_default_schedule_has_every_job_on_a_cron_trigger():
    config = scheduler.load_config()
    assert set(config.triggers) == set(scheduler.JOBS)
    assert all(isinstance(t, CronTrigger) for t in config.triggers.values())
    tz = ZoneInfo(config.timezone)
    start = datetime(2025, 1, 6, 8, 59, 30, tzinfo=tz)
    guard = config.triggers["guard"]
    first = guard.get_next_fire_time(None, start)
    second = guard.get_next_fire_time(first, first)
    assert (second - first).total_seconds() == 60, "the guard runs every minute"
    daily = config.triggers["daily_health"].get_next_fire_time(None, start)
    assert (daily.hour, daily.minute, daily.date()) == (9, 0, start.date()), "daily health at 09:00 local"


@pytest.mark.parametrize("body, message", [
    ('[jobs.nope]\ncrontab = "* * * * *"\n', "unknown job 'nope'"),
    ('[jobs.guard]\nsecnd = "*"\n', "unknown keys ['secnd']"),
    ('[jobs.guard]\ncrontab = "* * * * *"\nsecond = "*"\n', "either crontab or cron fields"),
    ('[jobs.guard]\nwhat = "no schedule"\n', "has no schedule"),
])
def test_bad_schedule_files_are_refused(tmp_path: Path, body: str, message: str):
    path = tmp_path / "schedule.toml"
    path.write_text('timezone = "UTC"\n' + body)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        scheduler.load_config(path)


def test_a_schedule_without_a_timezone_is_refused(tmp_path: Path):
    # The docs once said 09:05 Sao Paulo while the file was read as UTC: no implicit zone.
    path = tmp_path / "schedule.toml"
    path.write_text('[jobs.guard]\ncrontab = "* * * * *"\n')
    with pytest.raises(ValueError, match="timezone"):
        scheduler.load_config(path)
    path.write_text('timezone = "Mars/Olympus"\n[jobs.guard]\ncrontab = "* * * * *"\n')
    with pytest.raises(ValueError, match="timezone"):
        scheduler.load_config(path)


def test_the_listing_states_each_time_in_its_zone_and_in_utc():
    config = scheduler.load_config()
    assert config.timezone == "America/Sao_Paulo"
    rows = {r["job"]: r for r in scheduler.schedule_rows(config, now=datetime(2025, 1, 6, 12, 30, tzinfo=ZoneInfo("UTC")))}
    assert set(rows) == set(scheduler.JOBS)
    daily = rows["daily_health"]
    assert daily["crontab"] == "0 9 * * *"
    assert daily["next_local"] == "2025-01-07 09:00 -03"
    assert daily["next_utc"] == "2025-01-07 12:00 UTC"
    assert rows["rollout_report"]["next_local"] == "2025-01-07 09:05 -03"
    assert all(r["what"] for r in rows.values())


def test_a_disabled_job_is_left_out(tmp_path: Path):
    path = tmp_path / "schedule.toml"
    path.write_text('timezone = "UTC"\n[jobs.guard]\ncrontab = "* * * * *"\n[jobs.daily_health]\ncrontab = "0 9 * * *"\nenabled = false\n')
    assert list(scheduler.load_config(path).triggers) == ["guard"]


# ------------------------------------------------------------------------------------------
# Every job against the database.

def test_every_job_runs_and_logs_one_line(sched_db, slack, caplog):
    caplog.set_level(logging.INFO, logger="pgcanary.scheduler")
    ctx = _ctx(slack)
    for name, fn in scheduler.JOBS.items():
        assert scheduler.run_job(name, fn, ctx) is not None, name
    lines = _lines(caplog)
    assert [line["job"] for line in lines] == list(scheduler.JOBS)
    assert all(line["status"] == "ok" and isinstance(line["duration_ms"], float) for line in lines)
    health_text = next(t for t in slack.texts if "Painel diário" in t)
    assert "OK ✅" in health_text and "duplicatas_detectadas = 0" in health_text
    assert any("Business Events Rollout Status" in t for t in slack.texts), "the rollout report is posted"


def test_daily_health_posts_alert_with_the_failing_lines(sched_db, slack):
    with psycopg.connect(sched_db, autocommit=True) as conn:
        conn.execute("insert into business_events (event_type, event_props) values "
                     "('outbound_fallback', '{\"function\": \"enviar_legado\"}')")
    try:
        summary = scheduler.run_job("daily_health", scheduler.job_daily_health, _ctx(slack))
        assert summary == {"health": "ALERT", "alerts": 1, "alerts_delivered": 1, "alerts_failed": 0}
        text = slack.texts[-1]
        assert "ALERT 🚨" in text and "*Falhando:*" in text and "OUTBOUND_FALLBACK = 1 (threshold = 0)" in text
    finally:
        with psycopg.connect(sched_db, autocommit=True) as conn:
            # Events are append-only for the API; the test owner moves its own row out of the window.
            conn.execute("update business_events set ts = ts - interval '3 days' where event_type = 'outbound_fallback'")


def test_guard_job_acts_once_and_alerts(sched_db, slack, caplog):
    caplog.set_level(logging.INFO, logger="pgcanary.scheduler")
    with psycopg.connect(sched_db, autocommit=True) as conn:
        conn.execute("select pgcanary_private.set_percentage('guardrails_canary', 50, 'test: at C')")
        conn.execute("select opt_out(%s::uuid, 'whatsapp_keyword')", (LEAKED,))
        conn.execute("update opt_out_audit set changed_at = now() - interval '1 hour' where cliente_id = %s::uuid", (LEAKED,))
        conn.execute("insert into business_events (event_type, cliente_id, event_props) values "
                     "('outbound_sent', %s::uuid, '{\"method\": \"campaign\"}')", (LEAKED,))
    ctx = _ctx(slack)
    first = scheduler.run_job("guard", scheduler.job_guard, ctx)
    posted = len(slack.texts)
    second = scheduler.run_job("guard", scheduler.job_guard, ctx)
    assert first["action"] == "pause_and_rollback" and first["outbound_to_opted_out"] == 1
    assert second["action"] == "none" and second["incident_id"] == first["incident_id"]
    assert len(slack.texts) == posted, "the second tick does not alert again"
    alert = slack.texts[-1]
    assert "Guard" in alert and "guardrails_canary 50% → 10%" in alert and f"P0 #{first['incident_id']}" in alert
    with psycopg.connect(sched_db) as conn:
        assert conn.execute("select value from feature_flags where flag_key = 'pausar_julia'").fetchone()[0] is True
        assert conn.execute("select actor from rollout_history order by entry_id desc limit 1").fetchone()[0] != ""
    # No client id in the logs: the summary is counts and our own incident id.
    assert LEAKED not in caplog.text
    with psycopg.connect(sched_db, autocommit=True) as conn:
        conn.execute("select resolve_incident(%s, 'test over')", (first["incident_id"],))
        conn.execute("select retomar_julia('test over')")


def test_a_guard_run_while_slack_is_down_records_the_incident_and_alerts_later(sched_db, caplog):
    down = FakeSlack(status=500)
    with psycopg.connect(sched_db, autocommit=True) as conn:
        conn.execute("select pgcanary_private.set_percentage('guardrails_canary', 50, 'test: at C')")
        conn.execute("select opt_out(%s::uuid, 'whatsapp_keyword')", (LEAKED2,))
        conn.execute("update opt_out_audit set changed_at = now() - interval '1 hour' where cliente_id = %s::uuid", (LEAKED2,))
        conn.execute("insert into business_events (event_type, cliente_id, event_props) values "
                     "('outbound_sent', %s::uuid, '{\"method\": \"campaign\"}')", (LEAKED2,))
    try:
        first = scheduler.run_job("guard", scheduler.job_guard, scheduler.Context(notify=scheduler.slack_notifier(down.url)))
    finally:
        down.close()
    assert first["action"] == "pause_and_rollback" and first["alerts_failed"] >= 1 and first["alerts_delivered"] == 0
    with psycopg.connect(sched_db, autocommit=True) as conn:
        row = conn.execute("select attempts, delivered_at, last_error from alert_outbox where kind = 'guard' "
                           "order by alert_id desc limit 1").fetchone()
        assert row[0] == 1 and row[1] is None and row[2] == "SlackPostFailed", "kept, with its failure"
        assert conn.execute("select count(*) from incidents where incident_id = %s", (first["incident_id"],)).fetchone()[0] == 1
        conn.execute("update alert_outbox set next_attempt_at = now() where delivered_at is null")  # the backoff has passed
    up = FakeSlack()
    try:
        later = scheduler.run_job("alerts", scheduler.job_alerts, _ctx(up))
        assert later["alerts_delivered"] >= 1 and any(f"P0 #{first['incident_id']}" in t for t in up.texts)
        assert scheduler.run_job("alerts", scheduler.job_alerts, _ctx(up))["alerts_delivered"] == 0, "posted once"
    finally:
        up.close()
    with psycopg.connect(sched_db, autocommit=True) as conn:
        conn.execute("select resolve_incident(%s, 'test over')", (first["incident_id"],))
        conn.execute("select retomar_julia('test over')")


# ------------------------------------------------------------------------------------------
# Failures.

def test_a_failing_job_alerts_and_the_scheduler_keeps_running(slack, caplog):
    caplog.set_level(logging.INFO, logger="pgcanary.scheduler")
    runs = {"boom": 0, "tick": 0}

    def boom(ctx):
        runs["boom"] += 1
        raise RuntimeError("provider said no")

    def tick(ctx):
        runs["tick"] += 1
        return {"n": runs["tick"]}

    config = scheduler.Config(timezone="UTC", slack_webhook_env="X",
                              triggers={"boom": CronTrigger(second="*"), "tick": CronTrigger(second="*")})
    runner = scheduler.build_scheduler(config, _ctx(slack), BackgroundScheduler(timezone="UTC"),
                                       jobs={"boom": boom, "tick": tick})
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while (runs["boom"] < 2 or runs["tick"] < 3) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runner.running
    finally:
        runner.shutdown(wait=True)
    assert runs["boom"] >= 2 and runs["tick"] >= 3, runs
    errors = [line for line in _lines(caplog) if line["status"] == "error"]
    assert errors and all(e == {"job": "boom", "status": "error", "duration_ms": e["duration_ms"],
                                "error": "RuntimeError", "alerted": True} for e in errors)
    assert any("o job `boom` falhou" in t and "provider said no" in t for t in slack.texts)


def test_an_alert_that_cannot_be_posted_is_logged_not_raised(caplog):
    caplog.set_level(logging.INFO, logger="pgcanary.scheduler")
    broken = FakeSlack(status=500)
    try:
        ctx = scheduler.Context(notify=scheduler.slack_notifier(broken.url), webhook_url=broken.url)
        assert scheduler.run_job("boom", lambda c: 1 / 0, ctx) is None
    finally:
        broken.close()
    assert _lines(caplog)[-1] == {"job": "boom", "status": "error", "duration_ms": _lines(caplog)[-1]["duration_ms"],
                                  "error": "ZeroDivisionError", "alerted": False, "alert_error": "SlackPostFailed"}


def test_without_a_webhook_a_failure_is_still_logged(caplog):
    caplog.set_level(logging.INFO, logger="pgcanary.scheduler")
    ctx = scheduler.Context(notify=scheduler.slack_notifier(None))
    assert scheduler.run_job("boom", lambda c: 1 / 0, ctx) is None
    assert _lines(caplog)[-1]["alert_error"] == "SlackNotConfigured"


# ------------------------------------------------------------------------------------------
# The command.

def test_cli_lists_the_schedule_and_runs_one_job(sched_db):
    exe = str(Path(sys.executable).with_name("pgcanary"))
    env = dict(os.environ, DATABASE_URL=sched_db)
    listed = subprocess.run([exe, "scheduler", "--list"], capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "guard" in listed.stdout and "daily_health" in listed.stdout
    assert "America/Sao_Paulo" in listed.stdout and "UTC" in listed.stdout and "0 9 * * *" in listed.stdout
    once = subprocess.run([exe, "scheduler", "--once", "health_rollup"], capture_output=True, text=True, env=env, timeout=60)
    assert once.returncode == 0, once.stderr
    outer = json.loads(once.stderr.strip().splitlines()[-1])  # a JSON log line (--log-format json)
    assert outer["logger"] == "pgcanary.scheduler" and outer["level"] == "INFO"
    line = outer["job_run"]
    assert line["job"] == "health_rollup" and line["status"] == "ok" and line["refreshed"] is True
    failed = subprocess.run([exe, "scheduler", "--once", "rollout_report"], capture_output=True, text=True,
                            env={k: v for k, v in env.items() if k != "PGCANARY_SLACK_WEBHOOK_URL"}, timeout=60)
    assert failed.returncode == 1
    assert json.loads(failed.stderr.strip().splitlines()[-1])["job_run"]["status"] == "error"
