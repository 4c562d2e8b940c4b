"""pg_cron option (functions/schedule.sql) with the real extension: a throwaway server of its own
started with shared_preload_libraries = pg_cron (the session server stays untouched), pgcanary
migrated into the database pg_cron runs in. Also: without pg_cron the install is clean and the
calls answer PC090, changing nothing."""

from __future__ import annotations

import psycopg
import pytest

from pgcanary.errors import PgCronMissing, translate
from pgcanary.migrate import migrate
from pgcanary.throwaway import SERVER_ARGS, ThrowawayPostgres

EXPECTED = {"pgcanary_guard", "pgcanary_health_rollup", "pgcanary_event_rollup", "pgcanary_event_partitions",
            "pgcanary_rate_limit_cleanup", "pgcanary_outbox_lease_reaper"}


@pytest.fixture(scope="module")
def cron_db():
    server = ThrowawayPostgres(postgres_args=SERVER_ARGS + " -c shared_preload_libraries=pg_cron -c cron.database_name=test")
    try:
        url = server.url()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create extension pg_cron")
        migrate(url)
        yield url
    finally:
        server.stop()


def jobs(conn) -> dict[str, tuple[str, str]]:
    return {name: (sched, cmd) for name, sched, cmd in
            conn.execute("select jobname, schedule, command from cron.job where jobname like 'pgcanary%'")}


def test_schedule_is_idempotent_and_removable(cron_db):
    with psycopg.connect(cron_db, autocommit=True) as conn:
        conn.execute("select cron.schedule('someone_elses', '0 0 * * *', 'select 1')")
        first = conn.execute("select jobname from pgcanary_schedule_jobs()").fetchall()
        assert {r[0] for r in first} == EXPECTED
        once = jobs(conn)
        conn.execute("select * from pgcanary_schedule_jobs()")
        assert jobs(conn) == once, "a second call changes nothing"
        assert conn.execute("select count(*) from cron.job").fetchone()[0] == len(EXPECTED) + 1
        assert once["pgcanary_guard"] == ("* * * * *", "SELECT public.guard_tick()")
        # Every scheduled command runs as written (pg_cron would run exactly this).
        for _, cmd in once.values():
            conn.execute(cmd)
        assert conn.execute("select pgcanary_unschedule_jobs()").fetchone()[0] == len(EXPECTED)
        assert jobs(conn) == {}
        assert conn.execute("select jobname from cron.job").fetchall() == [("someone_elses",)]
        assert conn.execute("select pgcanary_unschedule_jobs()").fetchone()[0] == 0


def test_api_roles_cannot_schedule(cron_db):
    # anon/authenticated lack EXECUTE; service_role has it (the house rule for public
    # functions) but pg_cron grants it nothing, so it is refused by pg_cron itself.
    with psycopg.connect(cron_db) as conn:
        for role in ("anon", "authenticated", "service_role"):
            conn.execute(f"set local role {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select * from pgcanary_schedule_jobs()")
            conn.rollback()


def test_without_pg_cron_the_call_answers_pc090(database_url):
    # The session database has no pg_cron: migrate installed schedule.sql there cleanly.
    with psycopg.connect(database_url) as conn:
        for call in ("select * from pgcanary_schedule_jobs()", "select pgcanary_unschedule_jobs()"):
            with pytest.raises(psycopg.Error) as err:
                conn.execute(call)
            assert isinstance(translate(err.value), PgCronMissing)
            assert "pg_cron" in err.value.diag.message_hint
            conn.rollback()
