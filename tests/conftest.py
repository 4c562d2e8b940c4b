"""One pytest run for everything: the pgTAP files under tests/sql are collected as test items
(one per file, each failing assertion reported with its line), next to the Python tests. Their
output is read by tap.py's TAP parser; tests/py/test_pg_prove.py runs the same files under
pg_prove, as `supabase test db` does.

One throwaway Postgres serves the session. The `test` database is migrated once; the pgTAP
files run in it inside a transaction they roll back. Tests that need a database of their own
(migrations, adoption, faults) get one from `fresh_database`. A missing server, pgTAP or
plpgsql_check fails the run: nothing here skips.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from tap.parser import Parser as TapParser

from pgcanary.migrate import migrate
from pgcanary.throwaway import ThrowawayPostgres

ROOT = Path(__file__).resolve().parents[1]
PSQL = os.environ.get("PGCANARY_PSQL", "/usr/lib/postgresql/15/bin/psql")


def _install_test_extensions(url: str) -> None:
    # Test tooling lives in its own schema so that it is never mistaken for ours by the
    # catalog-wide security tests (they also skip extension members).
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists tap")
        conn.execute("create extension if not exists pgtap schema tap")
        conn.execute("create extension if not exists plpgsql_check schema tap")
        conn.execute("grant usage on schema tap to public")


class _Shared:
    """The session's server and migrated database, started on first use by a fixture or a
    pgTAP item (pgTAP items are not functions, so they cannot take fixtures)."""

    server: ThrowawayPostgres | None = None
    url: str | None = None

    @classmethod
    def database_url(cls) -> str:
        if cls.url is None:
            cls.server = ThrowawayPostgres()
            url = cls.server.url()
            migrate(url)
            _install_test_extensions(url)
            cls.url = url
        return cls.url


def pytest_sessionfinish(session, exitstatus):
    if _Shared.server is not None:
        _Shared.server.stop()


@pytest.fixture(scope="session")
def database_url() -> str:
    return _Shared.database_url()


@pytest.fixture(scope="session")
def pg_server(database_url) -> ThrowawayPostgres:
    return _Shared.server


@pytest.fixture(scope="session")
def supabase_cluster():
    """A second throwaway cluster shaped like Supabase's (tests/py/supabase_shape.py)."""
    from supabase_shape import SupabaseCluster

    cluster = SupabaseCluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh_database(pg_server):
    """An empty database on the session's server, dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = pg_server.url(database="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield pg_server.url(database=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database "{name}" with (force)')


# --------------------------------------------------------------------------------------
# pgTAP files as pytest items


def pytest_collect_file(parent, file_path: Path):
    if file_path.name.endswith(".test.sql"):
        return PgTapFile.from_parent(parent, path=file_path)
    return None


class PgTapFile(pytest.File):
    def collect(self):
        yield PgTapItem.from_parent(self, name=self.path.name)


class PgTapFailure(Exception):
    pass


# Session settings for psql and pg_prove alike: pgTAP lives in schema tap (see above).
PGTAP_ENV = {"PGOPTIONS": "-c search_path=public,tap -c client_min_messages=warning"}


class PgTapItem(pytest.Item):
    def runtest(self):
        url = _Shared.database_url()
        done = subprocess.run(
            [PSQL, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(self.path)],
            capture_output=True, text=True, env=dict(os.environ, **PGTAP_ENV), cwd=ROOT, timeout=600,
        )
        problems = tap_problems(self.path, done.stdout)
        if done.returncode != 0:
            problems.append(f"psql exited {done.returncode}:\n{done.stderr.strip()}")
        if problems:
            raise PgTapFailure("\n\n".join(problems))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, PgTapFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"pgTAP {self.path.name}"


PLAN_LINE = re.compile(r"^1\.\.\d+")


def tap_problems(path: Path, output: str) -> list[str]:
    """Reads psql's TAP with tap.py's parser: each failing test (TODO excepted) with the line of
    the file that names it and its diagnostics, a missing plan, or a count off the plan."""
    source = path.read_text().splitlines()
    problems, planned, seen, last = [], None, 0, None
    parser = TapParser()
    for text in output.splitlines():
        line = parser.parse_line(text)
        # tap.py's plan pattern is '^1..N' with unescaped dots, so a value a test file prints
        # (a uuid such as 14392709-...) would read as a plan: only a real '1..N' line counts.
        if line.category == "plan" and not PLAN_LINE.match(text):
            continue
        if line.category == "plan":
            planned = line.expected_tests
        elif line.category == "test":
            seen += 1
            last = None
            if not line.ok and not line.todo:
                desc = (line.description or "").removeprefix("-").strip()
                where = next((n for n, text in enumerate(source, 1) if desc and desc in text), None)
                last = [f"{path.name}:{where or '?'}: not ok {line.number} - {desc}"]
                problems.append(last)
        elif line.category == "diagnostic" and last is not None:
            last.append(line.text)
    problems = ["\n".join(p) for p in problems]
    if planned is None:
        problems.append("no plan: the file must call plan(n)")
    elif planned != seen:
        problems.append(f"planned {planned} tests but ran {seen}")
    if seen == 0:
        problems.append("no test ran")
    return problems
