"""`pgcanary migrate`: yoyo migrations, then every function file, then every policy file.

Order, stated once here and in docs/migrate.md:
  1. `db/*.sql` through yoyo (forward history, each with a `.rollback.sql`);
  2. `functions/*.sql` in the order of `functions/MANIFEST` (a file missing from the manifest is
     an error, so nothing is skipped silently);
  3. `policies/*.sql` in alphabetical order (RLS, policies, grants: after the objects exist).
Steps 2 and 3 run in one transaction and are idempotent (`CREATE OR REPLACE`, `DROP ... IF
EXISTS` then `CREATE`), so editing a function file and migrating again updates it.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

ROOT = Path(os.environ.get("PGCANARY_ROOT", Path(__file__).resolve().parents[2]))


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


# yoyo's bookkeeping tables live in their own schema, out of PostgREST's `public`, where
# they would be tables without RLS (Supabase's linter flags those, and so do our tests).
MIGRATIONS_SCHEMA = "pgcanary_migrations"


def apply_migrations(database_url: str, root: Path = ROOT) -> list[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"create schema if not exists {MIGRATIONS_SCHEMA}")
    sep = "&" if "?" in database_url else "?"
    backend = get_backend(_yoyo_url(database_url) + f"{sep}schema={MIGRATIONS_SCHEMA}")
    migrations = read_migrations(str(root / "db"))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def apply_code(database_url: str, root: Path = ROOT) -> list[str]:
    files = function_files(root) + policy_files(root)
    with psycopg.connect(database_url, autocommit=False) as conn:
        # Bodies refer to functions defined later in the manifest; they are checked by
        # plpgsql_check and the tests instead of at creation time.
        conn.execute("set local check_function_bodies = off")
        # The event writers are owned by pgcanary_writer (db/0006); replacing them needs its
        # privileges. The membership lives and dies inside this transaction: committed, no
        # role is a member, so no role of any database of the cluster can act as it.
        conn.execute("grant pgcanary_writer to current_user")
        for path in files:
            try:
                conn.execute(path.read_text())
            except psycopg.Error as exc:
                raise RuntimeError(f"{path.relative_to(root)}: {exc}") from exc
        conn.execute("revoke pgcanary_writer from current_user")
    return [str(p.relative_to(root)) for p in files]


def migrate(database_url: str, root: Path = ROOT) -> tuple[list[str], list[str]]:
    return apply_migrations(database_url, root), apply_code(database_url, root)
