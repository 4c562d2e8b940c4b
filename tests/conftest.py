"""One pytest run for everything: the pgTAP files under tests/sql are collected as test items
(one per file, each failing assertion reported with its line), next to the Python tests.

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


_TAP_LINE = re.compile(r"^(not ok|ok) (\d+)(?: - (.*))?$")


class PgTapItem(pytest.Item):
    def runtest(self):
        url = _Shared.database_url()
        env = dict(os.environ, PGOPTIONS="-c search_path=public,tap -c client_min_messages=warning")
        done = subprocess.run(
            [PSQL, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(self.path)],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
        )
        source = self.path.read_text().splitlines()
        problems, planned, seen = [], None, 0
        lines = done.stdout.splitlines()
        for i, line in enumerate(lines):
            if m := re.match(r"^1\.\.(\d+)$", line):
                planned = int(m.group(1))
            elif m := _TAP_LINE.match(line):
                seen += 1
                if m.group(1) == "not ok" and "# TODO" not in line:
                    desc = (m.group(3) or "").strip()
                    where = next((n for n, text in enumerate(source, 1) if desc and desc in text), None)
                    diag = []
                    for follow in lines[i + 1:]:
                        if not follow.startswith("#"):
                            break
                        diag.append(follow)
                    problems.append(f"{self.path.name}:{where or '?'}: {line}\n" + "\n".join(diag))
        if done.returncode != 0:
            problems.append(f"psql exited {done.returncode}:\n{done.stderr.strip()}")
        if planned is None:
            problems.append("no plan: the file must call plan(n)")
        elif planned != seen:
            problems.append(f"planned {planned} tests but ran {seen}")
        if seen == 0:
            problems.append("no test ran")
        if problems:
            raise PgTapFailure("\n\n".join(problems))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, PgTapFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"pgTAP {self.path.name}"
