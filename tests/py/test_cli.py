"""The operators' CLI and the Python glue: readable output, non-zero exit on error, SQLSTATEs
mapped to exception classes, and a caller's own connection owning the transaction."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from pgcanary import errors, flags

CLI = str(Path(sys.executable).with_name("pgcanary"))
FLAG = "cli_test_canary"


@pytest.fixture
def flag(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("insert into feature_flags (flag_key, value) values (%s, %s) "
                     "on conflict (flag_key) do update set value = excluded.value",
                     (FLAG, '{"enabled": true, "percentage": 10, "force_on": []}'))
    yield FLAG
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from feature_flags where flag_key = %s", (FLAG,))


def run(database_url, *args):
    env = dict(os.environ, DATABASE_URL=database_url, PGCANARY_ACTOR="cli-test", COLUMNS="200")
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=60)


def test_status_prints_a_table(database_url, flag):
    done = run(database_url, "status", flag)
    assert done.returncode == 0, done.stderr
    assert "percentage" in done.stdout and "10" in done.stdout and "canary_10pct" in done.stdout


def test_set_percentage_kill_resume_and_audit(database_url, flag):
    assert run(database_url, "set-percentage", flag, "50", "--reason", "phase 3").returncode == 0
    assert run(database_url, "kill", flag, "--reason", "incident 42").returncode == 0
    with psycopg.connect(database_url) as conn:
        value = conn.execute("select value from feature_flags where flag_key = %s", (FLAG,)).fetchone()[0]
        actor, reason = conn.execute(
            "select actor, reason from feature_flag_audit where flag_key = %s order by audit_id desc limit 1",
            (FLAG,)).fetchone()
    assert value["enabled"] is False and value["percentage"] == 50
    assert (actor, reason) == ("cli-test", "incident 42")
    assert run(database_url, "resume", flag, "--reason", "fixed").returncode == 0
    done = run(database_url, "audit", flag)
    assert done.returncode == 0 and "incident 42" in done.stdout


def test_allow_and_disallow(database_url, flag):
    cid = str(uuid.uuid4())
    done = run(database_url, "allow", flag, cid)
    assert done.returncode == 0 and "True" in done.stdout
    assert "False" in run(database_url, "allow", flag, cid).stdout  # already there
    assert "True" in run(database_url, "disallow", flag, cid).stdout


@pytest.mark.parametrize("args, code_text", [
    (("set-percentage", FLAG, "150", "--reason", "x"), "percentage must be from 0 to 100"),
    (("set-percentage", FLAG, "10", "--reason", " "), "a reason is required"),
    (("kill", "no_such_flag", "--reason", "x"), 'flag "no_such_flag" does not exist'),
    (("allow", FLAG, "not-a-uuid"), "invalid input syntax for type uuid"),
])
def test_errors_exit_non_zero_and_change_nothing(database_url, flag, args, code_text):
    with psycopg.connect(database_url) as conn:
        before = conn.execute("select value, (select count(*) from feature_flag_audit) from feature_flags "
                              "where flag_key = %s", (FLAG,)).fetchone()
    done = run(database_url, *args)
    assert done.returncode == 1
    assert code_text in done.stderr
    with psycopg.connect(database_url) as conn:
        after = conn.execute("select value, (select count(*) from feature_flag_audit) from feature_flags "
                             "where flag_key = %s", (FLAG,)).fetchone()
    assert after == before


def test_cli_without_database_fails_clearly():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run([CLI, "status"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and "DATABASE_URL" in done.stderr


def test_sqlstates_map_to_exception_classes(database_url, flag):
    with psycopg.connect(database_url) as conn:
        with pytest.raises(errors.InvalidArgument) as exc:
            flags.set_rollout_percentage(FLAG, 101, "x", conn=conn)
        assert exc.value.sqlstate == "PC003" and exc.value.hint
        conn.rollback()
        with pytest.raises(errors.FlagNotFound):
            flags.get_rollout_status("no_such_flag", conn=conn)
        conn.rollback()
        # A raw statement raises psycopg's error; errors.translate gives our class.
        with pytest.raises(psycopg.Error) as raw:
            conn.execute("update feature_flags set value = '{\"enabled\": true, \"percentage\": 150}' "
                         "where flag_key = %s", (FLAG,))
        mapped = errors.translate(raw.value)
        assert isinstance(mapped, errors.InvalidFlagValue) and "150" in str(mapped)
        conn.rollback()


def test_callers_connection_owns_the_transaction(database_url, flag):
    with psycopg.connect(database_url) as conn:
        flags.set_rollout_percentage(FLAG, 77, "in my transaction", conn=conn)
        assert flags.get_rollout_status(FLAG, conn=conn)["percentage"] == 77
        conn.rollback()
        assert flags.get_rollout_status(FLAG, conn=conn)["percentage"] == 10
