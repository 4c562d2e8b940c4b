"""`pgcanary drill`: the seed's playbook (D2) passes on a migrated database, changes nothing,
records its evidence on request, and fails (exit 1, D2 failed) when a mechanism is broken."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from pgcanary import db
from pgcanary.drill import run_drill
from pgcanary.migrate import migrate

PGCANARY = str(Path(sys.executable).with_name("pgcanary"))

STATE = """
select (select string_agg(flag_key || '=' || value::text, ',' order by flag_key) from feature_flags),
       (select count(*) from feature_flag_audit), (select count(*) from rollout_history),
       (select count(*) from business_events), (select count(*) from opt_outs),
       (select count(*) from rate_limit_hits), (select count(*) from incidents)
"""

# A kill switch that answers "paused" and pauses nothing: the drill must catch it.
BROKEN_KILL_SWITCH = """
create or replace function public.pausar_julia(reason text) returns jsonb
language sql volatile set search_path = pg_catalog, pg_temp
as $$ select '{"paused": true, "changed": true}'::jsonb $$
"""


@pytest.fixture
def drill_db(fresh_database):
    migrate(fresh_database)
    return fresh_database


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, **db.connect_kwargs())


def test_the_playbook_passes_and_changes_nothing(drill_db):
    with _connect(drill_db) as conn:
        before = conn.execute(STATE).fetchone()
        result = run_drill(conn)
        after = conn.execute(STATE).fetchone()
    assert [s.name for s in result.steps] == ["1. kill switch Julia", "2. kill switch campanhas",
                                              "3. rollback canary 50% -> 10%", "4. bypass com bypass_reason"]
    assert result.ok, [(s.name, s.observed) for s in result.steps if not s.ok]
    assert after == before, "the drill ran in a transaction that was rolled back"
    by_name = {s.name: s.observed for s in result.steps}
    assert "followup blocked (assistant_paused)" in by_name["1. kill switch Julia"]
    assert "campaign blocked (campaigns_disabled)" in by_name["2. kill switch campanhas"]
    assert "out after" in by_name["3. rollback canary 50% -> 10%"]
    assert "empty reason refused (PC023)" in by_name["4. bypass com bypass_reason"]
    assert "opted-out client with a reason -> opted_out" in by_name["4. bypass com bypass_reason"]


def test_record_writes_the_evidence_to_d2(drill_db):
    with _connect(drill_db) as conn:
        result = run_drill(conn, record=True)
        status, evidence, set_by = conn.execute(
            "select status, evidence, set_by from rollout_prerequisites where flag_key = 'guardrails_canary' and code = 'D2'"
        ).fetchone()
    assert (status, set_by) == ("met", db.connect_kwargs()["options"].split("=", 1)[1])
    assert evidence == result.evidence() and "4/4 steps passed" in evidence


def test_a_broken_kill_switch_fails_the_drill_and_d2(drill_db):
    with _connect(drill_db) as conn:
        conn.execute(BROKEN_KILL_SWITCH)
        result = run_drill(conn, record=True)
        status, evidence = conn.execute(
            "select status, evidence from rollout_prerequisites where flag_key = 'guardrails_canary' and code = 'D2'").fetchone()
    assert not result.ok
    assert [s.ok for s in result.steps] == [False, True, True, True], "one broken step does not stop the others"
    assert status == "failed" and "FAILED 1. kill switch Julia" in evidence and "3/4 steps passed" in evidence


def test_the_drill_owns_its_transaction(drill_db):
    with psycopg.connect(drill_db) as conn, pytest.raises(ValueError, match="autocommit"):
        run_drill(conn)


def test_cli_prints_the_evidence_and_exits_by_outcome(drill_db):
    env = dict(os.environ, DATABASE_URL=drill_db, PGCANARY_ACTOR="ana@empresa.com", COLUMNS="200")
    ok = subprocess.run([PGCANARY, "drill", "--record"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Evidence for D2:" in ok.stdout and "4/4 steps passed" in ok.stdout
    assert "Recorded: guardrails_canary D2 = met (set_by ana@empresa.com)" in ok.stdout
    with psycopg.connect(drill_db, autocommit=True) as conn:
        conn.execute(BROKEN_KILL_SWITCH)
    failed = subprocess.run([PGCANARY, "drill", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert failed.returncode == 1
    assert '"ok": false' in failed.stdout
