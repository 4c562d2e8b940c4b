"""Installing pgcanary: `pgcanary migrate`, `yoyo apply` and `pgcanary bundle` give one schema.

What an install runs, in order (docs/migrate.md):
  1. `db/*.sql`, yoyo's forward history (each with a `.rollback.sql`), in dependency order;
  2. `db/post-apply.py`, yoyo's post-apply hook, run after every apply: `functions/*.sql` in
     `functions/MANIFEST` order, then `policies/*.sql` (RLS, policies, grants), all idempotent.

Why one transaction (DESIGN.md §4a): on Supabase every table, sequence and function created in
`public` is granted to anon and authenticated the moment it exists. `pgcanary migrate` and the
bundle run all of the above in ONE transaction, so no other session ever sees one of our
objects before its RLS and revokes, and a refused install (a `feature_flags` we cannot adopt,
a foreign `outbound_messages`) rolls back whole: the database is exactly as it was, yoyo's
bookkeeping included. yoyo itself commits each migration on its own; we still use yoyo for
what it does (reading, ordering, bookkeeping) and only hold its connection in one transaction.
`yoyo apply` stays safe without that because every migration closes what it creates before it
commits (`pgcanary_private.lock_down`, db/0000).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql
from yoyo import get_backend, internalmigrations, read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend

# yoyo's bookkeeping tables live in their own schema, out of PostgREST's `public`, where
# they would be tables without RLS (Supabase's linter flags those, and so do our tests).
MIGRATIONS_SCHEMA = "pgcanary_migrations"
MIGRATION_TABLE = "_yoyo_migration"
# Two migrates at once: the second waits for the first to commit, then finds nothing to do.
_LOCK = "select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgcanary migrate'))"


def _default_root() -> Path:
    """The folder holding db/, functions/ and policies/: the checkout when we run from one
    (editable install), else the copy the wheel carries as package data (`pgcanary/sql`)."""
    if env := os.environ.get("PGCANARY_ROOT"):
        return Path(env)
    here = Path(__file__).resolve().parent
    checkout = here.parents[1]
    if (checkout / "functions" / "MANIFEST").is_file() and (checkout / "db").is_dir():
        return checkout
    return here / "sql"


ROOT = _default_root()


def _yoyo_url(database_url: str) -> str:
    # yoyo 9 picks its driver from the scheme; psycopg 3 is `postgresql+psycopg`.
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix):]
    return database_url


def function_files(root: Path = ROOT) -> list[Path]:
    folder = root / "functions"
    names = [line.split("#", 1)[0].strip() for line in (folder / "MANIFEST").read_text().splitlines()]
    names = [n for n in names if n]
    on_disk = {p.name for p in folder.glob("*.sql")}
    missing = on_disk - set(names)
    if missing:
        raise RuntimeError(f"functions/MANIFEST does not list: {', '.join(sorted(missing))}")
    return [folder / n for n in names]


def policy_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / "policies").glob("*.sql"))


def code_statements(root: Path = ROOT) -> Iterator[tuple[str, str]]:
    """(label, SQL) for the post-apply step, in order: what migrate executes and bundle prints."""
    # Bodies refer to functions defined later in the manifest; they are checked by
    # plpgsql_check and the tests instead of at creation time.
    yield "settings", "SET LOCAL check_function_bodies = off;"
    # The event writers are owned by pgcanary_writer (db/0006); replacing them needs its
    # privileges. The membership lives and dies inside this transaction: committed, no
    # role is a member, so no role of any database of the cluster can act as it.
    yield "borrow pgcanary_writer", "GRANT pgcanary_writer TO current_user;"
    for path in function_files(root) + policy_files(root):
        yield str(path.relative_to(root)), path.read_text()
    yield "return pgcanary_writer", "REVOKE pgcanary_writer FROM current_user;"


def apply_code(conn: Any, root: Path = ROOT) -> list[str]:
    """Runs the post-apply step on a DB-API connection already in a transaction (yoyo's)."""
    done = []
    for label, text in code_statements(root):
        try:
            conn.execute(text)
        except psycopg.Error as exc:
            # The file names the place; the server's message and SQLSTATE stay as they are.
            exc.add_note(f"while applying {label}")
            raise
        if label.endswith(".sql"):
            done.append(label)
    return done


def _backend(database_url: str):
    sep = "&" if "?" in database_url else "?"
    return get_backend(_yoyo_url(database_url) + f"{sep}schema={MIGRATIONS_SCHEMA}",
                       migration_table=MIGRATION_TABLE)


def _restore_search_path(backend) -> None:
    # Every SQL file pins `SET LOCAL search_path` for the transaction; yoyo's bookkeeping
    # statements name their tables unqualified and need its schema back.
    backend.execute(f"SET LOCAL search_path TO {MIGRATIONS_SCHEMA}")


def migrate(database_url: str, root: Path = ROOT) -> tuple[list[str], list[str]]:
    """Applies pending migrations and the post-apply step in one transaction; returns the
    applied migration ids and the code files re-applied. Raises and changes nothing on error."""
    backend = _backend(database_url)
    try:
        backend.begin()
        backend.execute(_LOCK)
        backend.execute(f"CREATE SCHEMA IF NOT EXISTS {MIGRATIONS_SCHEMA}")
        _restore_search_path(backend)
        if internalmigrations.needs_upgrading(backend):
            internalmigrations.upgrade(backend)
        backend._internal_schema_updated = True
        backend.create_lock_table()  # what `yoyo apply` would create: the same install either way
        migrations = read_migrations(str(root / "db"))
        pending = backend.to_apply(migrations)
        for m in pending:
            m.process_steps(backend, "apply")
            _restore_search_path(backend)
            backend.log_migration(m, "apply")
            backend.mark_one(m, log=False)
        for hook in migrations.post_apply:  # db/post-apply.py: apply_code, as under `yoyo apply`
            hook.process_steps(backend, "apply")
            _restore_search_path(backend)
        backend.commit()
    except BaseException:
        if not backend.connection.closed:
            backend.rollback()
        raise
    finally:
        backend.connection.close()
    code = [label for label, _ in code_statements(root) if label.endswith(".sql")]
    return [m.id for m in pending], code


# --------------------------------------------------------------------------------------
# `pgcanary bundle`: the same install as one SQL script, for psql -1, supabase/migrations/ or
# the SQL Editor. yoyo's own statements (its tables, its bookkeeping rows) are taken from yoyo
# by running its code against a recorder, so a later `pgcanary migrate` sees the bundle's
# migrations as applied.


class _Cursor:
    def fetchone(self):
        return None

    def fetchall(self):
        return []


class _Recorder(PostgresqlPsycopgBackend):
    """A yoyo backend with no connection: `execute` writes the statement, literals inlined."""

    def __init__(self):
        self.statements: list[str] = []
        self.migration_table = MIGRATION_TABLE
        self._internal_schema_updated = True

    def execute(self, sql, params=None):
        params = params or {}
        text = re.sub(r"(?<!:):(\w+)", lambda m: pgsql.Literal(params[m.group(1)]).as_string(None)
                      if m.group(1) in params else m.group(0), sql)
        self.statements.append(text.strip() + ";")
        return _Cursor()

    def list_tables(self, **kwargs):
        return []

    def begin(self):
        pass

    def commit(self):
        pass

    def savepoint(self, id):
        pass

    def savepoint_rollback(self, id):
        raise RuntimeError("the bundle recorder cannot roll back")


_BUNDLE_GUARD = f"""DO $$
BEGIN
    IF pg_catalog.to_regclass('{MIGRATIONS_SCHEMA}.{MIGRATION_TABLE}') IS NOT NULL THEN
        RAISE EXCEPTION 'pgcanary is already installed in this database'
            USING ERRCODE = 'PC051',
                  DETAIL = 'The bundle installs from nothing; {MIGRATIONS_SCHEMA}.{MIGRATION_TABLE} exists.',
                  HINT = 'Upgrade with pgcanary migrate (it applies only what is missing).';
    END IF;
END
$$;"""


def bundle(root: Path = ROOT) -> str:
    rec = _Recorder()
    out = [
        "-- pgcanary: the whole install as one script. Apply it in ONE transaction:",
        "--   psql -1 -v ON_ERROR_STOP=1 -f pgcanary.sql \"$DATABASE_URL\"",
        "-- or as a file in supabase/migrations/, or pasted whole into the SQL Editor.",
        "-- Generated by `pgcanary bundle`; do not edit (edit db/, functions/, policies/).",
        _LOCK + ";",
        _BUNDLE_GUARD,
        f"CREATE SCHEMA IF NOT EXISTS {MIGRATIONS_SCHEMA};",
        f"SET LOCAL search_path TO {MIGRATIONS_SCHEMA};",
    ]
    internalmigrations.upgrade(rec)
    rec.execute(rec.format_sql(rec.create_lock_table_sql))
    out += rec.statements
    migrations = read_migrations(str(root / "db"))
    pending = rec.to_apply(migrations)  # the order migrate uses; nothing is applied yet
    for m in pending:
        rec.statements = []
        rec.log_migration(m, "apply")
        rec.mark_one(m, log=False)
        out += [f"\n-- db/{Path(m.path).name}", Path(m.path).read_text().rstrip(),
                f"SET LOCAL search_path TO {MIGRATIONS_SCHEMA};", *rec.statements]
    for label, text in code_statements(root):
        out += [f"\n-- {label}", text.rstrip()]
    return "\n".join(out) + "\n"
