"""Honest volatility labels (DESIGN.md §6): PARALLEL SAFE promises the planner the function may
run in a parallel worker. Every function of ours labelled so is found in the catalog and called
under force_parallel_mode = on with sample arguments; none may fail with a parallel-mode error
("cannot start subtransactions / execute INSERT / assign XIDs during a parallel operation").
Bad-sample errors (our PC codes, data exceptions) are fine: the label is what is tested. A
plpgsql body with an EXCEPTION block is refused statically too (a subtransaction)."""

from __future__ import annotations

import re

import psycopg
import pytest

# A sample value per argument type; a type without one fails the test (it is never skipped).
SAMPLES = {
    "uuid": "gen_random_uuid()", "text": "'x'", "integer": "1", "bigint": "1", "smallint": "1::smallint",
    "numeric": "1", "boolean": "true", "jsonb": "'{}'::jsonb", "json": "'{}'::json",
    "timestamp with time zone": "now()", "time without time zone": "'09:00'::time", "interval": "'1 hour'::interval",
    "smallint[]": "'{1,2,3,4,5}'::smallint[]", "uuid[]": "array[gen_random_uuid()]", "text[]": "'{x}'::text[]",
    "bytea": "'\\x00'::bytea", "date": "current_date", "double precision": "1.0", "integer[]": "'{1}'::int[]",
    "jsonb[]": "array['{}'::jsonb]",
}

PARALLEL_SAFE = """
    select p.oid::regprocedure::text, l.lanname, p.prosrc,
           coalesce(array(select format_type(t, null) from unnest(p.proargtypes) as t), '{}')
    from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    join pg_language l on l.oid = p.prolang
    where n.nspname in ('public', 'pgcanary_private') and p.proparallel = 's' and p.prokind = 'f'
      and p.prorettype <> 'trigger'::regtype
      and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
    order by 1"""


def _functions(url):
    with psycopg.connect(url) as conn:
        return conn.execute(PARALLEL_SAFE).fetchall()


def test_there_are_parallel_safe_functions_to_check(database_url):
    assert len(_functions(database_url)) >= 5  # the check below cannot pass by finding nothing


def test_no_parallel_safe_plpgsql_function_has_an_exception_block(database_url):
    offenders = [sig for sig, lang, src, _ in _functions(database_url)
                 if lang == "plpgsql" and re.search(r"\bEXCEPTION\s+WHEN\b", src, re.I)]
    assert offenders == []


def test_every_parallel_safe_function_runs_in_a_parallel_worker(database_url):
    failures, missing = [], []
    with psycopg.connect(database_url) as conn:
        conn.execute("set force_parallel_mode = on")
        conn.execute("set max_parallel_workers_per_gather = 2")
        for sig, _, _, types in _functions(database_url):
            if any(t not in SAMPLES for t in types):
                missing.append((sig, [t for t in types if t not in SAMPLES]))
                continue
            name = sig.split("(")[0]
            call = f"select {name}({', '.join(SAMPLES[t] for t in types)})"
            try:
                with conn.transaction():
                    plan = "\n".join(r[0] for r in conn.execute("explain " + call))
                    assert "Gather" in plan, f"{sig}: the planner did not use a worker ({plan})"
                    conn.execute(call).fetchall()
            except psycopg.Error as exc:
                state, first = exc.sqlstate or "", str(exc).splitlines()[0]
                if state == "25000" or "during a parallel operation" in first:
                    failures.append((sig, state, first))
                elif not (state.startswith("PC") or state.startswith("22")):
                    failures.append((sig, state, "unexpected: " + first))
    assert missing == [], "add a sample value for these argument types"
    assert failures == []
