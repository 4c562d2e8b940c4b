"""Migration 0005: an existing guardrails_canary flag is adopted, not overwritten; the rollback
removes every governance and health object and leaves flags and events working; migrating
again restores it."""

from __future__ import annotations

import psycopg
from yoyo import get_backend, read_migrations

from pgcanary.migrate import MIGRATIONS_SCHEMA, ROOT, _yoyo_url, migrate

TABLES = ["public.rollout_plans", "public.rollout_steps", "public.rollout_prerequisites", "public.rollout_history",
          "public.incidents", "pgcanary_private.health_rollup", "pgcanary_private.health_last_seen",
          "pgcanary_private.health_outbox_rollup", "pgcanary_private.health_late_events",
          "pgcanary_private.health_rollup_state", "public.health_slo_panel", "public.rollout_overview"]
FUNCTIONS = ["public.rollout_gate(text)", "public.guard_tick()", "public.daily_health()",
             "pgcanary_private.feature_flags_rollout_history()", "pgcanary_private.note_health_late(uuid,timestamptz)"]


def _present(conn) -> dict[str, bool]:
    found = {t: conn.execute("select to_regclass(%s) is not null", (t,)).fetchone()[0] for t in TABLES}
    found.update({f: conn.execute("select to_regprocedure(%s) is not null", (f,)).fetchone()[0] for f in FUNCTIONS})
    return found


def test_an_existing_guardrails_canary_is_adopted(fresh_database):
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create table public.feature_flags (flag_key text primary key, value jsonb not null, description text)")
        conn.execute("""insert into public.feature_flags values
                        ('guardrails_canary', '{"enabled": true, "percentage": 25, "force_on": []}', 'theirs')""")
    migrate(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        value, description = conn.execute(
            "select value, description from feature_flags where flag_key = 'guardrails_canary'").fetchone()
        step = conn.execute("select step, action from rollout_history where flag_key = 'guardrails_canary'").fetchone()
    assert value["percentage"] == 25 and description == "theirs"
    assert step == ("B", "install"), "the install records the step the flag is at"


def test_rollback_and_reapply(fresh_database):
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        assert all(_present(conn).values())
    backend = get_backend(_yoyo_url(fresh_database) + f"?schema={MIGRATIONS_SCHEMA}")
    migrations = read_migrations(str(ROOT / "db"))
    with backend.lock():
        backend.rollback_migrations(backend.to_rollback(migrations.filter(lambda m: m.id == "0005_governance")))

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        assert not any(_present(conn).values()), _present(conn)
        # Flags and events still work without the governance triggers; the flag row stays.
        conn.execute("select pgcanary_private.set_percentage('guardrails_canary', 25, 'after rollback')")
        conn.execute("insert into business_events (ts, event_type) values (now() - interval '2 hours', 'opt_in')")
        assert conn.execute("select count(*) from business_events").fetchone()[0] == 1

    assert migrate(fresh_database)[0] == ["0005_governance"], 'migrate re-applies the rolled-back migration and the code'
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        assert all(_present(conn).values())
        assert conn.execute("select rollout_gate('guardrails_canary') -> 'current' ->> 'step'").fetchone()[0] == "B"
        assert conn.execute("select daily_health() ->> 'status'").fetchone()[0] == "OK"
