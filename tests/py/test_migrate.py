"""`pgcanary migrate`: idempotent, re-applies edited function files, adopts an existing
feature_flags table, creates the Supabase roles only when missing, and every migration has a
rollback. Each test migrates a database of its own (`fresh_database`); the roles test starts a
bare cluster of its own because roles are cluster-wide.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb
from yoyo import get_backend, read_migrations

from pgcanary.migrate import MIGRATIONS_SCHEMA, _yoyo_url, migrate
from pgcanary.throwaway import ThrowawayPostgres

ROOT = Path(__file__).resolve().parents[2]
CLIENT = "0b7e4a5c-1d2e-4f60-9a1b-2c3d4e5f6a7b"
ROLES = ("anon", "authenticated", "service_role")


def catalog_digest(url: str) -> dict[str, list]:
    """What migrate owns, as text: function definitions and grants, table grants and RLS,
    policies, triggers, comments, and the flag rows with their audit trail."""
    queries = {
        "functions": """
            select p.oid::regprocedure::text, pg_get_functiondef(p.oid), coalesce(p.proacl::text, '<default>'),
                   coalesce(obj_description(p.oid, 'pg_proc'), '')
            from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where n.nspname in ('public', 'pgcanary_private') and p.prokind in ('f', 'p')
            order by 1""",
        "relations": """
            select c.oid::regclass::text, c.relkind::text, coalesce(c.relacl::text, '<default>'),
                   c.relrowsecurity, c.relforcerowsecurity, coalesce(obj_description(c.oid, 'pg_class'), '')
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname in ('public', 'pgcanary_private', 'pgcanary_migrations')
              and c.relkind in ('r', 'p', 'v', 'm', 'S')
            order by 1""",
        # A generated column of the kept feature_flags (db/0017) goes with the function it is
        # generated from when pgcanary_private is dropped, and comes back at the end of the
        # table: its position is not compared, everything else about it is.
        "columns": """
            select a.attrelid::regclass::text, case when a.attgenerated <> '' then 0 else a.attnum end,
                   a.attname::text, format_type(a.atttypid, a.atttypmod), a.attgenerated::text,
                   a.attnotnull, a.attidentity::text, coalesce(pg_get_expr(d.adbin, d.adrelid), '')
            from pg_attribute a join pg_class c on c.oid = a.attrelid
            left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
            where c.relnamespace in (select oid from pg_namespace where nspname in ('public', 'pgcanary_private', 'pgcanary_migrations'))
              and c.relkind in ('r', 'p', 'v', 'm') and a.attnum > 0 and not a.attisdropped
            order by 1, 2, 3""",
        "indexes_and_constraints": """
            select schemaname::text, tablename::text, indexname::text, indexdef from pg_indexes
            where schemaname in ('public', 'pgcanary_private', 'pgcanary_migrations')
            union all
            select conrelid::regclass::text, contype::text, conname::text, pg_get_constraintdef(oid) from pg_constraint
            where connamespace in (select oid from pg_namespace where nspname in ('public', 'pgcanary_private'))
            order by 1, 2, 3""",
        "schemas": """
            select nspname::text, coalesce(nspacl::text, '<default>') from pg_namespace
            where nspname in ('public', 'pgcanary_private', 'pgcanary_migrations') order by 1""",
        "policies": """
            select schemaname::text, tablename::text, policyname::text, permissive, roles::text, cmd,
                   coalesce(qual, ''), coalesce(with_check, '')
            from pg_policies order by 1, 2, 3""",
        "triggers": """
            select t.tgrelid::regclass::text, t.tgname::text, pg_get_triggerdef(t.oid), t.tgenabled::text
            from pg_trigger t where not t.tgisinternal order by 1, 2""",
        "default_privileges": """
            select coalesce(defaclnamespace::regnamespace::text, '-'), defaclobjtype::text, defaclacl::text
            from pg_default_acl order by 1, 2""",
        "flags": """
            select flag_key, value::text, coalesce(description, ''), created_at::text, updated_at::text,
                   coalesce(updated_by, '')
            from public.feature_flags order by 1""",
        "audit": "select count(*) from public.feature_flag_audit",
    }
    with psycopg.connect(url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}


def role_rows(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select rolname, oid, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,"
            " rolreplication, rolconnlimit, rolvaliduntil, rolbypassrls, rolconfig"
            " from pg_roles where rolname = any(%s) order by 1", [list(ROLES)]).fetchall()
    return {r[0]: r for r in rows}


def copy_of_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for folder in ("db", "functions", "policies"):
        shutil.copytree(ROOT / folder, root / folder)
    return root


# --------------------------------------------------------------------------------------


def test_migrate_twice_changes_nothing(fresh_database):
    applied, code = migrate(fresh_database)
    assert applied, "the first migrate applies the migrations"
    before = catalog_digest(fresh_database)
    assert len(before["functions"]) > 10 and before["policies"] and before["triggers"], "the digest sees our objects"

    applied_again, code_again = migrate(fresh_database)

    assert applied_again == []
    assert code_again == code, "the function and policy files are re-applied every time"
    after = catalog_digest(fresh_database)
    changed = {name: {"before": sorted(set(before[name]) - set(after[name])),
                      "after": sorted(set(after[name]) - set(before[name]))}
               for name in before if before[name] != after[name]}
    assert changed == {}


def test_editing_a_function_file_and_migrating_updates_the_function(fresh_database, tmp_path):
    root = copy_of_repo(tmp_path)
    migrate(fresh_database, root=root)
    flags_sql = root / "functions" / "flags.sql"
    text = flags_sql.read_text()
    # Replace the body of canary_bucket with one that returns 42.
    edited, n = re.subn(
        r"(CREATE OR REPLACE FUNCTION public\.canary_bucket\(.*?AS \$\$).*?(\$\$;)",
        r"\1 SELECT 42 -- edited by test_migrate\n\2", text, count=1, flags=re.S)
    assert n == 1, "functions/flags.sql no longer defines public.canary_bucket with an AS $$ body"
    flags_sql.write_text(edited)
    with psycopg.connect(fresh_database) as conn:
        acl_before = conn.execute("select proacl::text from pg_proc where oid = 'public.canary_bucket(uuid, text)'::regprocedure").fetchone()[0]

    migrate(fresh_database, root=root)

    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("select public.canary_bucket(%s::uuid)", [CLIENT]).fetchone()[0] == 42
        definition, acl = conn.execute(
            "select pg_get_functiondef(oid), proacl::text from pg_proc where oid = 'public.canary_bucket(uuid, text)'::regprocedure").fetchone()
    assert "edited by test_migrate" in definition
    assert acl == acl_before, "re-applying the file keeps the function's grants"


def test_an_existing_feature_flags_table_is_adopted(fresh_database):
    theirs = {
        "business_events_canary": ({"enabled": True, "percentage": 10, "force_on": [CLIENT]}, "their canary"),
        "pausar_julia": (False, "kill switch"),
        "campanhas_enabled": ({"enabled": False}, None),
    }
    with psycopg.connect(fresh_database) as conn:
        conn.execute("create table public.feature_flags (flag_key text primary key, value jsonb, description text)")
        for key, (value, description) in theirs.items():
            conn.execute("insert into public.feature_flags values (%s, %s, %s)", [key, Jsonb(value), description])

    migrate(fresh_database)

    with psycopg.connect(fresh_database) as conn:
        rows = {k: (v, d) for k, v, d in conn.execute("select flag_key, value, description from public.feature_flags")}
        columns = {r[0] for r in conn.execute(
            "select attname::text from pg_attribute where attrelid = 'public.feature_flags'::regclass and attnum > 0 and not attisdropped")}
        reason = conn.execute("select public.evaluate_flag('business_events_canary', %s::uuid) ->> 'reason'", [CLIENT]).fetchone()[0]
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("update public.feature_flags set value = '{\"enabled\": true, \"percentage\": 150}' where flag_key = 'business_events_canary'")
    for key, row in theirs.items():
        assert rows[key] == row, f"adopted row {key} changed"
    assert {"created_at", "updated_at", "updated_by"} <= columns
    assert {"business_events_enabled", "business_events_rollout_pct"} <= rows.keys(), "the seed procedure's rows are added"
    assert reason == "TARGETING_MATCH", "the adopted canary is live: its allowlist works"
    assert refused.value.sqlstate == "PC001", "the adopted table is validated from now on"


def test_an_adopted_canary_percentage_is_what_business_events_rollout_pct_reads(fresh_database):
    # The alias row is documented as "kept in sync both ways, so a SELECT on either row tells
    # the truth"; on an adopted table it must start from the adopted percentage.
    with psycopg.connect(fresh_database) as conn:
        conn.execute("create table public.feature_flags (flag_key text primary key, value jsonb, description text)")
        conn.execute("insert into public.feature_flags values ('business_events_canary', %s, 'theirs')",
                     [Jsonb({"enabled": True, "percentage": 10, "force_on": []})])

    migrate(fresh_database)

    with psycopg.connect(fresh_database) as conn:
        alias, canary = conn.execute(
            "select (select value from public.feature_flags where flag_key = 'business_events_rollout_pct'),"
            "       (select value -> 'percentage' from public.feature_flags where flag_key = 'business_events_canary')").fetchone()
    assert canary == 10
    assert alias == canary


def test_a_text_value_column_holding_json_is_converted(fresh_database):
    with psycopg.connect(fresh_database) as conn:
        conn.execute("create table public.feature_flags (flag_key text primary key, value text, description text)")
        conn.execute("insert into public.feature_flags values"
                     " ('business_events_canary', '{\"enabled\": true, \"percentage\": 10, \"force_on\": []}', 'theirs'),"
                     " ('pausar_julia', 'false', null), ('max_retries', '2', null)")

    migrate(fresh_database)

    with psycopg.connect(fresh_database) as conn:
        column_type = conn.execute(
            "select atttypid::regtype::text from pg_attribute where attrelid = 'public.feature_flags'::regclass and attname = 'value'").fetchone()[0]
        rows = dict(conn.execute("select flag_key, value from public.feature_flags"))
    assert column_type == "jsonb"
    assert rows["business_events_canary"] == {"enabled": True, "percentage": 10, "force_on": []}
    assert rows["pausar_julia"] is False
    assert rows["max_retries"] == 2


def test_a_text_value_that_is_not_json_stops_the_migration_and_changes_nothing(fresh_database):
    with psycopg.connect(fresh_database) as conn:
        conn.execute("create table public.feature_flags (flag_key text primary key, value text, description text)")
        conn.execute("insert into public.feature_flags values ('pausar_julia', 'yes', null)")

    with pytest.raises(psycopg.Error) as refused:
        migrate(fresh_database)
    assert refused.value.sqlstate == "PC054" and "yes" not in str(refused.value)

    with psycopg.connect(fresh_database) as conn:
        column_type = conn.execute(
            "select atttypid::regtype::text from pg_attribute where attrelid = 'public.feature_flags'::regclass and attname = 'value'").fetchone()[0]
        rows = conn.execute("select flag_key, value from public.feature_flags").fetchall()
    assert column_type == "text"
    assert rows == [("pausar_julia", "yes")]


def test_migrate_leaves_existing_roles_alone(fresh_database):
    # The session's server already has the roles (its `test` database is migrated).
    before = role_rows(fresh_database)
    assert sorted(before) == sorted(ROLES)
    migrate(fresh_database)
    assert role_rows(fresh_database) == before


@pytest.fixture(scope="module")
def bare_cluster():
    """A cluster of our own: roles are cluster-wide, so creating them is tested where no
    other test's database depends on them."""
    server = ThrowawayPostgres()
    try:
        yield server
    finally:
        server.stop()


def test_roles_are_created_only_when_missing(bare_cluster):
    url = bare_cluster.url()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select count(*) from pg_roles where rolname = any(%s)", [list(ROLES)]).fetchone()[0] == 0
        conn.execute("create role anon nologin noinherit connection limit 7")
    anon_before = role_rows(url)["anon"]

    migrate(url)

    roles = role_rows(url)
    assert roles["anon"] == anon_before, "an existing anon is left as it was"
    assert roles["anon"][8] == 7
    # Created with the attributes Supabase gives them.
    assert not roles["authenticated"][6] and not roles["authenticated"][3], "authenticated: NOLOGIN NOINHERIT"
    assert not roles["service_role"][6] and roles["service_role"][10], "service_role: NOLOGIN BYPASSRLS"

    # A second database on the same cluster: the roles exist, migrate neither fails nor alters them.
    with psycopg.connect(bare_cluster.url(database="postgres"), autocommit=True) as conn:
        conn.execute("create database second")
    migrate(bare_cluster.url(database="second"))
    assert role_rows(url) == roles


def test_every_migration_has_a_rollback():
    migrations = sorted(p for p in (ROOT / "db").glob("*.sql") if not p.name.endswith(".rollback.sql"))
    assert migrations, "db/ holds migrations"
    missing = [p.name for p in migrations if not p.with_name(p.stem + ".rollback.sql").exists()]
    assert missing == []


def test_rollback_then_migrate_gives_the_same_database(fresh_database):
    migrate(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        conn.execute("update public.feature_flags set value = '{\"enabled\": true, \"percentage\": 10, \"force_on\": []}'"
                     " where flag_key = 'business_events_canary'")
    first = catalog_digest(fresh_database)

    backend = get_backend(_yoyo_url(fresh_database) + f"?schema={MIGRATIONS_SCHEMA}")
    try:
        migrations = read_migrations(str(ROOT / "db"))
        with backend.lock():
            backend.rollback_migrations(backend.to_rollback(migrations))
    finally:
        backend.connection.close()

    with psycopg.connect(fresh_database) as conn:
        kept = conn.execute("select value -> 'percentage' from public.feature_flags where flag_key = 'business_events_canary'").fetchone()
        audit = conn.execute("select to_regclass('public.feature_flag_audit')").fetchone()[0]
    assert kept == (10,), "rolling back keeps the (possibly adopted) feature_flags rows"
    assert audit is None, "rolling back removes what the migration created"

    migrate(fresh_database)
    again = catalog_digest(fresh_database)
    # The audit trail starts over (its table was dropped); everything else is as it was.
    first.pop("audit"), again.pop("audit")
    changed = {name: {"before": sorted(set(first[name]) - set(again[name])),
                      "after": sorted(set(again[name]) - set(first[name]))}
               for name in first if first[name] != again[name]}
    assert changed == {}


def test_a_non_superuser_migrating_role_works_as_on_supabase(pg_server):
    """On Supabase the migrating role (postgres) is not a superuser: it has CREATEROLE and owns
    the database. Migrating twice as such a role must work, leave pgcanary_writer with no
    member (migrate borrows the membership inside its transaction), and the event writers
    must run as pgcanary_writer and write."""
    name = "nsu_" + uuid.uuid4().hex[:10]
    admin = pg_server.url(database="postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute("do $$ begin if not exists (select from pg_roles where rolname = 'pgcanary_migrator') then "
                  "create role pgcanary_migrator login createrole; end if; end $$")
        c.execute(f'create database "{name}" owner pgcanary_migrator')
    url = pg_server.url(database=name, user="pgcanary_migrator")
    try:
        migrate(url)
        migrate(url)
        with psycopg.connect(url, autocommit=True) as c:
            assert c.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0] is False
            assert c.execute("select count(*) from pg_auth_members where roleid = 'pgcanary_writer'::regrole").fetchone()[0] == 0
            owners = c.execute("select array_agg(distinct proowner::regrole::text) from pg_proc "
                               "where proname in ('emit_event', 'emit_events', 'record_event')").fetchone()[0]
            assert owners == ["pgcanary_writer"]
            assert c.execute("select emit_event('opt_in', null, null, '{\"telefone\": \"+55 11 98765-4321\"}') is not null").fetchone()[0]
            assert c.execute("select event_props from business_events").fetchone()[0] == {"telefone_prefix": "5511"}
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("set role pgcanary_writer")
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'drop database "{name}" with (force)')
