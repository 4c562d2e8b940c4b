"""Operator commands do what they say or refuse (DESIGN.md invariant 7, docs/operator.md): the
gated rollout workflow, kill into the safe state, --json for scripts, and a bad database URL
failing fast in one line. Run as a real subprocess against a database of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pgcanary.migrate import migrate

CLI = str(Path(sys.executable).with_name("pgcanary"))


@pytest.fixture(scope="module")
def db(pg_server):
    import uuid

    name = "op_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = pg_server.url().rsplit("/", 1)[0] + "/" + name
    migrate(url)
    return url


def run(url, *args, timeout=30):
    env = dict(os.environ, DATABASE_URL=url, PGCANARY_ACTOR="op-test", COLUMNS="200")
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=timeout)


def value(url, flag):
    with psycopg.connect(url) as conn:
        return conn.execute("select value from feature_flags where flag_key = %s", (flag,)).fetchone()[0]


def test_kill_on_a_paused_assistant_keeps_it_paused(db):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("update feature_flags set value = 'true' where flag_key = 'pausar_julia'")
    done = run(db, "kill", "pausar_julia", "--reason", "incident 12")
    assert done.returncode == 0, done.stderr
    assert value(db, "pausar_julia") is True, "kill means paused for the inverted flag"
    assert run(db, "resume", "pausar_julia", "--reason", "over").returncode == 0
    assert value(db, "pausar_julia") is False


def test_set_percentage_cannot_walk_past_the_gate_and_points_to_advance(db):
    before = value(db, "guardrails_canary")
    done = run(db, "set-percentage", "guardrails_canary", "50", "--reason", "skip the gate")
    assert done.returncode == 1 and "PC082" in done.stderr and "advance" in done.stderr
    assert "Traceback" not in done.stderr
    assert value(db, "guardrails_canary") == before


def test_gate_advance_and_rollback(db):
    gate = run(db, "gate", "guardrails_canary", "--json")
    verdict = json.loads(gate.stdout)["verdict"]
    assert verdict == "NO-GO" and gate.returncode == 0  # --json: the verdict is in the data
    table = run(db, "gate", "guardrails_canary")
    assert table.returncode == 3 and "NO-GO" in table.stdout and "FAIL" in table.stdout
    refused = run(db, "advance", "guardrails_canary", "--reason", "not yet")
    assert refused.returncode == 1 and "PC040" in refused.stderr and value(db, "guardrails_canary")["percentage"] == 10
    forced = run(db, "advance", "guardrails_canary", "--reason", "CAB approved", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["forced"] is True and value(db, "guardrails_canary")["percentage"] == 25
    with psycopg.connect(db) as conn:
        reason = conn.execute("select reason from feature_flag_audit where flag_key = 'guardrails_canary' "
                              "order by audit_id desc limit 1").fetchone()[0]
    assert reason == "FORCED past NO-GO: CAB approved"
    back = run(db, "rollback", "guardrails_canary", "10", "--reason", "drill", "--json")
    assert back.returncode == 0 and json.loads(back.stdout)["to_percentage"] == 10


def test_list_health_and_outbox_read_as_json(db):
    flags = {f["flag_key"]: f for f in json.loads(run(db, "list", "--json").stdout)}
    assert flags["pausar_julia"]["in_safe_state"] is False and flags["guardrails_canary"]["step"] == "A"
    assert "guardrails_canary" in run(db, "list").stdout
    health = run(db, "health", "--json")
    assert health.returncode in (0, 2) and "status" in json.loads(health.stdout)
    box = json.loads(run(db, "outbox", "--json").stdout)
    assert {"queued", "held", "cancelled_24h"} <= set(box["metrics"]["depth"]) and box["unknown"] == []


@pytest.mark.parametrize("url", [
    "postgresql://postgres@127.0.0.1:1/postgres",            # closed port
    "postgresql://postgres@no-such-host.invalid/postgres",   # unknown host
    "postgresql://postgres@10.255.255.1:5432/postgres",      # nobody answers: the timeout
])
def test_a_bad_database_url_fails_fast_in_one_line(url):
    started = time.monotonic()
    done = run(url, "status", "pausar_julia")
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert elapsed < 5 + 2, f"took {elapsed:.1f}s"  # 5 s promised; a subprocess start is ~1 s here
    assert "Traceback" not in done.stderr and done.stderr.strip().splitlines()[0].startswith("error: cannot connect")
    assert len(done.stderr.strip().splitlines()) <= 2


def test_a_missing_database_fails_fast_and_verbose_shows_more(db):
    url = db.rsplit("/", 1)[0] + "/no_such_database"
    done = run(url, "list")
    assert done.returncode == 1 and "cannot connect" in done.stderr and "Traceback" not in done.stderr
    verbose = run(url, "--verbose", "list")
    assert verbose.returncode == 1 and len(verbose.stderr.splitlines()) > len(done.stderr.splitlines())
