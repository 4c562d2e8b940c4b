"""Migration 0003: flags the user already has are adopted, not overwritten; the rollback
removes everything 0003 made except the flags; migrating again restores it."""

from __future__ import annotations

import psycopg
from yoyo import get_backend, read_migrations

from pgcanary.migrate import MIGRATIONS_SCHEMA, ROOT, _yoyo_url, migrate

OURS = ["public.outbound_channels", "public.outbound_methods", "public.opt_outs", "public.opt_out_audit",
        "public.rate_limit_rules", "public.rate_limit_hits", "public.external_handoffs", "pgcanary_private.hash_keys"]


def _exists(conn, names):
    return {n: conn.execute("select to_regclass(%s) is not null", (n,)).fetchone()[0] for n in names}


def test_existing_flags_are_kept(fresh_database):
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create table public.feature_flags (flag_key text primary key, value jsonb not null, description text)")
        conn.execute("insert into public.feature_flags values ('pausar_julia', 'true', 'theirs'),"
                     " ('campaigns', '{\"enabled\": false}', 'theirs')")
    migrate(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        rows = dict(conn.execute("select flag_key, value from feature_flags"
                                 " where flag_key in ('pausar_julia', 'campaigns', 'external_handoff')").fetchall())
    assert rows == {"pausar_julia": True, "campaigns": {"enabled": False},
                    "external_handoff": {"enabled": False, "canary_pct": 0}}


def test_rollback_and_reapply(fresh_database):
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("select public.pausar_julia('before rollback')")
        assert all(_exists(conn, OURS).values())

    backend = get_backend(_yoyo_url(fresh_database) + f"?schema={MIGRATIONS_SCHEMA}")
    migrations = read_migrations(str(ROOT / "db"))
    with backend.lock():
        backend.rollback_migrations(backend.to_rollback(migrations.filter(lambda m: m.id == "0003_guardrails")))

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        assert not any(_exists(conn, OURS).values())
        assert conn.execute("select to_regprocedure('public.check_outbound_guardrails(uuid, text, text, text, uuid, uuid, text)')"
                            ).fetchone()[0] is None
        # The flags stay, as the team left them; flag writes still work without our trigger.
        assert conn.execute("select value from feature_flags where flag_key = 'pausar_julia'").fetchone()[0] is True
        conn.execute("update feature_flags set value = 'false' where flag_key = 'pausar_julia'")
        assert conn.execute("select to_regclass('public.business_events') is not null").fetchone()[0]

    assert migrate(fresh_database)[0] == ["0003_guardrails"], 'migrate re-applies the rolled-back migration and the code'
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        assert all(_exists(conn, OURS).values())
        r = conn.execute("select public.check_outbound_guardrails(gen_random_uuid(), '5511900001111', 'followup')").fetchone()[0]
        assert r["allowed"] is True
