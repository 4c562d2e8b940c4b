"""Every install path on a database shaped like Supabase's (tests/py/supabase_shape.py), while a
second connection, as PostgREST's anon, hammers our tables and sequences: nothing it tries
succeeds during or after the install, anon and authenticated hold no privilege on anything of
ours, the paths give the same schema, and a refused install leaves the database as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from yoyo import read_migrations

from pgcanary.migrate import MIGRATIONS_SCHEMA, _backend, _yoyo_url, bundle, migrate
from supabase_shape import AnonPoller, api_privileges, our_objects
from test_migrate import catalog_digest

ROOT = Path(__file__).resolve().parents[2]
PSQL = "/usr/lib/postgresql/15/bin/psql"


def as_postgres(cluster, name: str) -> str:
    return cluster.url(database=name, user="postgres")


def as_authenticator(cluster, name: str) -> str:
    return cluster.url(database=name, user="authenticator")


def schema_of(url: str) -> dict:
    """The install as text, minus what differs between two databases by nature (timestamps)."""
    digest = catalog_digest(url)
    digest["flags"] = [row[:3] for row in digest["flags"]]
    return digest


def assert_poller_saw_nothing(poller: AnonPoller) -> None:
    assert poller.rounds >= 2, "the poller ran before the install and a whole round after it"
    assert poller.control_successes > 0, "the poller can write where the shape lets it (control)"
    assert poller.successes == [], "anon reached an object of ours"


@pytest.fixture(scope="module")
def reference(supabase_cluster):
    """One database installed by `pgcanary migrate`, the schema the other paths must match."""
    name = supabase_cluster.new_database()
    url = as_postgres(supabase_cluster, name)
    with AnonPoller(as_authenticator(supabase_cluster, name)) as poller:
        applied, _ = migrate(url)
    assert applied and applied[0] == "0000_lock_down"
    return url, poller


def test_migrate_exposes_nothing_to_anon_during_or_after(reference):
    url, poller = reference
    assert_poller_saw_nothing(poller)
    assert api_privileges(url) == []
    with psycopg.connect(url) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (False,)
        findings = conn.execute("select check_name, object_name from public.health_security_all").fetchall()
    assert findings and all(name.startswith("app_notes") or name.startswith("public.app_notes") for _, name in findings), \
        "our own health view agrees: its only findings are the shape's app_notes"


def test_migrate_twice_changes_nothing_and_authenticated_gets_nothing(supabase_cluster, reference):
    url, _ = reference
    before = schema_of(url)
    name = url.rsplit("/", 1)[1]
    with AnonPoller(as_authenticator(supabase_cluster, name), role="authenticated") as poller:
        applied, _ = migrate(url)
    assert applied == []
    assert_poller_saw_nothing(poller)
    assert schema_of(url) == before


def test_no_migration_leaves_anything_open_when_committed_alone(supabase_cluster, reference):
    """yoyo commits migration by migration: after each commit, anon holds nothing of ours."""
    name = supabase_cluster.new_database()
    url = as_postgres(supabase_cluster, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"create schema {MIGRATIONS_SCHEMA}")
    backend = _backend(url)
    try:
        backend.init_database()
        migrations = read_migrations(str(ROOT / "db"))
        opened = {}
        for m in backend.to_apply(migrations):
            backend.apply_one(m)
            if found := api_privileges(url):
                opened[m.id] = found
    finally:
        backend.connection.close()
    assert opened == {}


def test_yoyo_apply_gives_the_same_install_and_exposes_nothing(supabase_cluster, reference):
    name = supabase_cluster.new_database()
    url = as_postgres(supabase_cluster, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"create schema {MIGRATIONS_SCHEMA}")
    yoyo = str(Path(sys.executable).with_name("yoyo"))
    with AnonPoller(as_authenticator(supabase_cluster, name)) as poller:
        done = subprocess.run([yoyo, "apply", "--batch", "--database", _yoyo_url(url) + f"?schema={MIGRATIONS_SCHEMA}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_poller_saw_nothing(poller)
    assert api_privileges(url) == []
    assert schema_of(url) == schema_of(reference[0])
    assert migrate(url)[0] == [], "migrate after yoyo apply finds nothing pending"


def test_yoyo_bookkeeping_in_public_is_refused(supabase_cluster):
    name = supabase_cluster.new_database()
    url = as_postgres(supabase_cluster, name)
    yoyo = str(Path(sys.executable).with_name("yoyo"))
    done = subprocess.run([yoyo, "apply", "--batch", "--database", _yoyo_url(url)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "PC050" in done.stderr or "bookkeeping in public" in done.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('public.feature_flags')").fetchone() == (None,)


def test_the_bundle_gives_the_same_install_and_exposes_nothing(supabase_cluster, reference):
    name = supabase_cluster.new_database()
    url = as_postgres(supabase_cluster, name)
    script = bundle()
    with AnonPoller(as_authenticator(supabase_cluster, name)) as poller:
        done = subprocess.run([PSQL, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", "-", url],
                              input=script, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_poller_saw_nothing(poller)
    assert api_privileges(url) == []
    assert schema_of(url) == schema_of(reference[0])
    assert migrate(url)[0] == [], "migrate after the bundle finds nothing pending"

    before = our_objects(url)
    again = subprocess.run([PSQL, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", "-", url],
                           input=script, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "already installed" in again.stderr
    assert our_objects(url) == before


@pytest.mark.parametrize("existing, code", [
    ("create table public.outbound_messages (id serial primary key, body text)", "PC052"),
    ("create table public.incidents (id int)", "PC052"),
    ("create table public.business_events (id int)", "PC019"),
])
def test_a_refused_install_leaves_the_database_as_it_was(supabase_cluster, existing, code):
    name = supabase_cluster.new_database()
    url = as_postgres(supabase_cluster, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(existing)
    before = our_objects(url)
    with AnonPoller(as_authenticator(supabase_cluster, name)) as poller:
        with pytest.raises(psycopg.Error) as refused:
            migrate(url)
    assert refused.value.sqlstate == code
    assert refused.value.diag.message_hint, "the refusal says what to do"
    assert our_objects(url) == before, "nothing of ours stays behind, yoyo's bookkeeping included"
    # The existing table is the user's (the shape grants it to anon); nothing else was reachable.
    table = existing.split()[2]
    assert [p for p in poller.successes if table not in p] == []


def test_a_feature_flags_table_of_another_role_is_refused_and_nothing_stays(supabase_cluster):
    name = supabase_cluster.new_database()
    url = as_postgres(supabase_cluster, name)
    with psycopg.connect(supabase_cluster.url(database=name), autocommit=True) as conn:
        conn.execute("create table public.feature_flags (flag_key text primary key, value jsonb)")
    before = our_objects(url)
    with pytest.raises(psycopg.Error) as refused:
        migrate(url)
    assert refused.value.sqlstate == "PC003"
    assert our_objects(url) == before


def test_a_private_schema_of_another_role_is_refused_and_nothing_stays(supabase_cluster):
    name = supabase_cluster.new_database()
    url = as_postgres(supabase_cluster, name)
    with psycopg.connect(supabase_cluster.url(database=name), autocommit=True) as conn:
        conn.execute("create schema pgcanary_private")  # by supabase_admin, not a role postgres is in
    before = our_objects(url)
    with pytest.raises(psycopg.Error) as refused:
        migrate(url)
    assert refused.value.sqlstate == "PC053"
    assert our_objects(url) == before


def test_the_wheel_carries_its_sql_and_installs_the_same_schema_from_anywhere(supabase_cluster, reference, tmp_path):
    import os
    import zipfile

    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("pgcanary-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("pgcanary/py.typed", "pgcanary/sql/functions/MANIFEST", "pgcanary/sql/db/0000_lock_down.sql",
                     "pgcanary/sql/db/post-apply.py", "pgcanary/sql/policies/feature_flags.sql"):
        assert expected in names
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]

    name = supabase_cluster.new_database()
    url = as_postgres(supabase_cluster, name)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PGCANARY_ROOT"} | {"PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", "import sys, pgcanary; print(pgcanary.__file__, file=sys.stderr); "
                               "from pgcanary.cli import app; app()", "migrate", "--database-url", url],
        cwd=empty, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.startswith(str(target)), "the installed wheel ran, not the checkout"
    assert "0000_lock_down" in run.stdout
    assert schema_of(url) == schema_of(reference[0])
