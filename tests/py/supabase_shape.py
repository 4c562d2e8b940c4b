"""A cluster shaped like Supabase's (DESIGN.md §4a), for the install tests.

What matters of the shape, taken from supabase/postgres's init scripts: the superuser is
`supabase_admin`; `postgres` is NOT a superuser (CREATEROLE, CREATEDB, BYPASSRLS, REPLICATION),
owns the database and is a member of the API roles; PostgREST logs in as `authenticator` and
switches to `anon` / `authenticated` / `service_role`; and default privileges grant ALL on every
new table, sequence and function in `public` to the API roles, for objects made by `postgres`
and by `supabase_admin`.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg

from pgcanary.throwaway import ThrowawayPostgres

SUPERUSER = "supabase_admin"

CLUSTER_SQL = """
create role postgres login createrole createdb replication bypassrls;
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create role authenticator login noinherit;
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
"""

# Run as supabase_admin inside each new database.
DATABASE_SQL = """
grant usage on schema public to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to postgres, anon, authenticated, service_role;
"""

# The poller's control: a table the shape exposes on purpose, so a poller that cannot reach
# anything would fail the test instead of passing it.
CONTROL_SQL = "create table public.app_notes (id bigint generated always as identity primary key, body text)"


class SupabaseCluster(ThrowawayPostgres):
    """A throwaway cluster whose superuser is supabase_admin, with the shape's roles."""

    def __init__(self):
        super().__init__(initdb_args=f"-U {SUPERUSER} -A trust")
        with psycopg.connect(self.url(database="postgres"), autocommit=True) as conn:
            conn.execute(CLUSTER_SQL)

    def dsn(self, **kwargs):
        kwargs.setdefault("user", SUPERUSER)
        return super().dsn(**kwargs)

    def new_database(self) -> str:
        """A database owned by postgres, with Supabase's grants and default privileges."""
        name = "sb_" + uuid.uuid4().hex[:10]
        with psycopg.connect(self.url(database="postgres"), autocommit=True) as conn:
            conn.execute(f'create database "{name}" owner postgres')
        with psycopg.connect(self.url(database=name), autocommit=True) as conn:
            conn.execute(DATABASE_SQL)
        with psycopg.connect(self.url(database=name, user="postgres"), autocommit=True) as conn:
            conn.execute(CONTROL_SQL)
        return name


# What an attacker with the anon key tries against every object of ours, through PostgREST.
PROBES = [
    "select count(*) from public.feature_flags",
    "insert into public.feature_flags (flag_key, value) values ('anon_' || md5(random()::text), 'true')",
    "update public.feature_flags set value = 'false' where flag_key = 'business_events_enabled'",
    "select count(*) from public.feature_flag_audit",
    "select count(*) from public.opt_outs",
    "delete from public.opt_outs",
    "select count(*) from public.outbound_messages",
    "select count(*) from public.business_events",
    "select count(*) from public.incidents",
    "select count(*) from public.rollout_plans",
    "select count(*) from public.rate_limit_rules",
    "select nextval('public.feature_flag_audit_audit_id_seq')",
    "select setval('public.feature_flag_audit_audit_id_seq', 1)",
    "select setval('public.incidents_incident_id_seq', 1)",
    "select count(*) from pgcanary_migrations._yoyo_migration",
    "select count(*) from pgcanary_private.hash_keys",
    "select public.is_enabled('business_events_canary', gen_random_uuid())",
]
CONTROL_PROBE = "insert into public.app_notes (body) values ('anon can write here: the shape grants it')"


@dataclass
class AnonPoller:
    """A second connection, as PostgREST's `authenticator` switched to `anon` (or `authenticated`),
    that runs every probe in a loop until stopped and counts what succeeded."""

    url: str
    role: str = "anon"
    successes: list[str] = field(default_factory=list)
    control_successes: int = 0
    rounds: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self):
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"set role {self.role}")
            conn.execute("set statement_timeout = '2s'")
            conn.execute("set lock_timeout = '50ms'")
            while True:
                # A round that starts after the stop is the last: one full round runs after
                # the install returned, whatever the timing.
                last = self._stop.is_set()
                for probe in PROBES:
                    try:
                        conn.execute(probe)
                        self.successes.append(probe)
                    except psycopg.Error:
                        pass
                try:
                    conn.execute(CONTROL_PROBE)
                    self.control_successes += 1
                except psycopg.Error:
                    pass
                self.rounds += 1
                if last:
                    return

    def __enter__(self):
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while self.rounds == 0 and time.monotonic() < deadline:  # polling before the install starts
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        return False


def api_privileges(url: str) -> list[tuple]:
    """Every privilege anon or authenticated hold on an object of ours, read from the catalog
    (not from our own health view: that view is part of what is being tested), and any default
    privilege in our schemas that would hand them the next object. The shape's own table
    app_notes is left out by name."""
    with psycopg.connect(url) as conn:
        return conn.execute("""
            with ours as (select oid from pg_namespace where nspname in ('public', 'pgcanary_private', 'pgcanary_migrations'))
            select r.rolname::text, 'relation', c.oid::regclass::text
            from pg_class c cross join (values ('anon'), ('authenticated')) r(rolname)
            where c.relnamespace in (select oid from ours) and c.relkind in ('r', 'p', 'v', 'm', 'f')
              and c.relname not like 'app_notes%'
              and has_table_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
            union all
            select r.rolname, 'sequence', c.oid::regclass::text
            from pg_class c cross join (values ('anon'), ('authenticated')) r(rolname)
            where c.relnamespace in (select oid from ours) and c.relkind = 'S' and c.relname not like 'app_notes%'
              and has_sequence_privilege(r.rolname, c.oid, 'USAGE, SELECT, UPDATE')
            union all
            select r.rolname, 'function', p.oid::regprocedure::text
            from pg_proc p cross join (values ('anon'), ('authenticated')) r(rolname)
            where p.pronamespace in (select oid from ours)
              and has_function_privilege(r.rolname, p.oid, 'EXECUTE')
            union all
            select 'default privileges', d.defaclnamespace::regnamespace::text, d.defaclobjtype::text || ': ' || d.defaclacl::text
            from pg_default_acl d
            where d.defaclnamespace in (select oid from pg_namespace where nspname like 'pgcanary%')
              and d.defaclacl::text ~ '(anon|authenticated)='
            order by 1, 2, 3""").fetchall()


def our_objects(url: str) -> list[tuple]:
    """Every object a pgcanary install creates, as names: empty on a database it never touched."""
    with psycopg.connect(url) as conn:
        return conn.execute("""
            select 'schema', nspname::text from pg_namespace where nspname like 'pgcanary%'
            union all
            select 'relation', c.oid::regclass::text from pg_class c
            where c.relnamespace = 'public'::regnamespace and c.relname not like 'app_notes%'
            union all
            select 'function', p.oid::regprocedure::text from pg_proc p
            where p.pronamespace = 'public'::regnamespace
            union all
            select 'role', rolname::text from pg_roles where rolname like 'pgcanary%'
            order by 1, 2""").fetchall()
