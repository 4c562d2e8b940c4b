"""`make bench`: pgbench and timed statements against a throwaway Postgres, reported as ratios
to a baseline measured in the same run (never absolute thresholds). Results also go to
bench/results.json. Each capability adds a function to BENCHES.

Durations are short by default (PGCANARY_BENCH_SECONDS, default 8) to keep `make bench` quick;
a ratio is the median of PGCANARY_BENCH_ROUNDS rounds (default 3), baseline and subject
interleaved so that drift on a shared machine hits both.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python_glue"))

from pgcanary.migrate import migrate  # noqa: E402
from pgcanary.throwaway import ThrowawayPostgres  # noqa: E402

SECONDS = int(os.environ.get("PGCANARY_BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("PGCANARY_BENCH_ROUNDS", "3"))
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


def pgbench(url: str, script: str, clients: int = 2, seconds: int = SECONDS) -> float:
    out = subprocess.run(
        [PGBENCH, "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients), "-T", str(seconds),
         "-f", str(HERE / script), url], capture_output=True, text=True)
    match = re.search(r"tps = ([\d.]+)", out.stdout)
    if not match:
        raise RuntimeError(f"pgbench {script} failed:\n{out.stdout}\n{out.stderr}")
    return float(match.group(1))


def timed(conn: psycopg.Connection, query: str) -> float:
    start = time.perf_counter()
    conn.execute(query).fetchall()
    return time.perf_counter() - start


def ratio_rounds(measure_subject, measure_baseline) -> tuple[float, float, float]:
    """Median subject, median baseline, median of per-round ratios."""
    subj, base, ratios = [], [], []
    for _ in range(ROUNDS):
        b = measure_baseline()
        s = measure_subject()
        subj.append(s)
        base.append(b)
        ratios.append(s / b)
    return statistics.median(subj), statistics.median(base), statistics.median(ratios)


def bench_flags(url: str) -> list[dict]:
    results = []
    for name, script, target in (("is_enabled", "flags_is_enabled.sql", 0.6),
                                 ("evaluate_flag", "flags_evaluate_flag.sql", 0.45)):
        tps, base, ratio = ratio_rounds(lambda: pgbench(url, script), lambda: pgbench(url, "flags_select1.sql"))
        results.append({"name": f"{name} TPS / SELECT 1 TPS (prepared, 2 clients)", "subject": round(tps),
                        "baseline": round(base), "ratio": round(ratio, 3), "target": f">= {target}",
                        "met": ratio >= target})
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table bench_ids as select gen_random_uuid() as id from generate_series(1, 1000000)")
        conn.execute("vacuum analyze bench_ids")
        # The batch RPC receives its ids as an array (as a caller passes them); md5 over the
        # same unnested array is the like-for-like baseline. Unnesting 1M uuids alone costs
        # about 2x a table scan, so the table-scan baseline is reported too.
        md5_array = "select count(md5(u::text)) from unnest(array(select id from bench_ids)) u"
        md5_table = "select count(md5(id::text)) from bench_ids"
        batch = "select count(*) filter (where bucket < 10) from public.canary_buckets(array(select id from bench_ids))"
        per_row = "select count(*) filter (where public.canary_bucket(id) < 10) from bench_ids"
        for label, subject, baseline, target in (
                ("canary_buckets(1M ids) / md5 over the same array, time", batch, md5_array, 2.0),
                ("canary_buckets(1M ids) / md5(id::text) over the table, time", batch, md5_table, None),
                ("canary_bucket(id) per row over the table / md5(id::text) over the table, time", per_row, md5_table, None)):
            secs, base, ratio = ratio_rounds(lambda: timed(conn, subject), lambda: timed(conn, baseline))
            results.append({"name": f"bucketing 1M stored ids: {label}", "subject": round(secs, 3),
                            "baseline": round(base, 3), "ratio": round(ratio, 3),
                            "target": f"<= {target}" if target else "reference",
                            "met": ratio <= target if target else None})
        conn.execute("drop table bench_ids")
    return results


# ------------------------------------------------------------------------------------------
# Governance and health: daily_health() against the seed's Q1-Q5 as written, and rollout_gate,
# on PGCANARY_BENCH_EVENTS business events (comma-separated sizes; default 1M), a tenth of
# them in the last 24 h like the target's 10M / 1M, the rest over the 9 days before.

SEED_Q1_Q5 = [
    """SELECT event_type, COUNT(*) as total, COUNT(DISTINCT cliente_id) as clientes_unicos
       FROM business_events WHERE ts >= NOW() - INTERVAL '24 hours' GROUP BY event_type ORDER BY total DESC""",
    """SELECT event_type, event_props->>'block_reason' as razao, event_props->>'channel' as canal,
              event_props->>'method' as metodo, COUNT(*) as total
       FROM business_events WHERE event_type IN ('outbound_blocked', 'outbound_bypass')
         AND ts >= NOW() - INTERVAL '24 hours' GROUP BY 1, 2, 3, 4 ORDER BY total DESC""",
    """SELECT ts, cliente_id, conversation_id, event_props->>'inbound_interaction_id' as inbound_id,
              event_props->>'block_reason' as razao
       FROM business_events WHERE event_type IN ('outbound_blocked', 'outbound_bypass')
         AND event_props->>'method' = 'reply'
         AND (event_props->>'inbound_interaction_id' IS NULL OR conversation_id IS NULL)
         AND ts >= NOW() - INTERVAL '24 hours' ORDER BY ts DESC LIMIT 20""",
    """SELECT DATE_TRUNC('hour', ts) as hora, event_props->>'block_reason' as razao, COUNT(*) as total
       FROM business_events WHERE event_type = 'outbound_blocked'
         AND event_props->>'block_reason' IN ('provider_error', 'timeout', 'circuit_open')
         AND ts >= NOW() - INTERVAL '24 hours' GROUP BY 1, 2 ORDER BY 1 DESC""",
    """SELECT ts, event_props->>'function' as funcao, event_props->>'telefone_prefix' as telefone_prefix
       FROM business_events WHERE event_type = 'outbound_fallback'
         AND ts >= NOW() - INTERVAL '24 hours' ORDER BY ts DESC""",
]

# Triggers off for the load (session_replication_role): the rows are valid by construction,
# and the rollups are then built by their own refresh, as after a backfill.
GOVERNANCE_LOAD = """
set session_replication_role = replica;
select pgcanary_private.ensure_event_partitions(current_date - 11, current_date + 1);
-- Rows in time order, as an append-only log is written (the outbox's BRIN on sent_at and the
-- heap locality of each day's partition depend on it); types, clients and reasons from a hash
-- of the row number, so that no two of them move together.
insert into business_events (ts, event_type, cliente_id, conversation_id, event_props, source)
select r.ts, r.event_type, md5('client-' || (r.h %% 50000))::uuid, md5('conversation-' || (r.h %% 200000))::uuid,
       case r.event_type
         when 'outbound_blocked' then jsonb_build_object('channel', 'whatsapp', 'method', (array['campaign', 'followup', 'reply'])[1 + r.h %% 3],
              'block_reason', (array['opted_out', 'opted_out', 'opted_out', 'rate_limited', 'outside_business_hours',
                                     'campaigns_disabled', 'reply_without_inbound_proof', 'provider_error', 'timeout', 'circuit_open'])[1 + (r.h / 7) %% 10],
              'inbound_interaction_id', md5('inbound-' || r.g)::uuid)
         when 'outbound_bypass' then jsonb_build_object('channel', 'whatsapp', 'method', 'reply', 'bypass_reason', 'medico pediu retorno',
              'block_reason', 'outside_business_hours', 'inbound_interaction_id', md5('inbound-' || r.g)::uuid)
         when 'outbound_sent' then jsonb_build_object('channel', 'whatsapp', 'method', (array['campaign', 'followup', 'reply'])[1 + r.h %% 3])
         when 'outbound_failed' then jsonb_build_object('method', 'campaign', 'error_class', 'http_400')
         else jsonb_build_object('vaga_id', md5('vaga-' || (r.h %% 3000))::uuid)
       end,
       'bench'
from (select g, h,
             case when h %% 100 < %(recent)s then now() - random() * interval '24 hours'
                  else now() - interval '24 hours' - random() * interval '9 days' end as ts,
             (array['outbound_sent', 'outbound_sent', 'outbound_sent', 'inbound_received', 'inbound_received',
                    'outbound_blocked', 'outbound_blocked', 'offer_made', 'conversation_started', 'offer_accepted',
                    'outbound_sent', 'outbound_sent', 'inbound_received', 'offer_declined', 'outbound_bypass',
                    'outbound_sent', 'outbound_blocked', 'inbound_received', 'conversation_started',
                    'outbound_failed'])[1 + (h / 100) %% 20] as event_type
      from (select g, (hashint8(g) & 2147483647)::bigint as h from generate_series(1::bigint, %(n)s) g) x) r
order by r.ts;
-- 2,000 opted-out clients, opted out 10 days ago, with their audit rows.
insert into opt_outs (cliente_id, opted_out, source, changed_at, changed_by)
select md5('client-' || (g * 25))::uuid, true, 'bench', now() - interval '10 days', 'bench' from generate_series(1, 2000) g;
insert into opt_out_audit (cliente_id, operation, old_opted_out, new_opted_out, source, actor, changed_at)
select cliente_id, 'INSERT', null, true, 'bench', 'bench', changed_at from opt_outs;
-- The outbox rows behind the sends: one sent message per outbound_sent event.
insert into outbound_messages (dedupe_key, cliente_id, method, template_ref, status, created_at, sent_at, updated_at)
select md5(e.event_id::text), e.cliente_id, e.event_props ->> 'method', 'tpl-' || (abs(hashtext(e.event_id::text)) %% 500),
       'sent', e.ts, e.ts, e.ts
from business_events e where e.event_type = 'outbound_sent'
order by e.ts;
set session_replication_role = origin;
"""


def bench_governance(url: str) -> list[dict]:
    sizes = [int(x) for x in os.environ.get("PGCANARY_BENCH_EVENTS", "1000000").split(",") if x.strip()]
    recent = float(os.environ.get("PGCANARY_BENCH_RECENT", "0.1"))  # share of the events in the last 24 h
    admin = re.sub(r"/[^/?]+(\?|$)", r"/postgres\1", url, count=1)
    results = []
    for n in sizes:
        name = f"bench_gov_{n}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}"')
            conn.execute(f'create database "{name}"')
        db_url = re.sub(r"/[^/?]+(\?|$)", rf"/{name}\1", url, count=1)
        migrate(db_url)
        label = f"{n / 1e6:g}M events ({n * recent / 1e6:g}M in 24 h)"
        with psycopg.connect(db_url, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute(GOVERNANCE_LOAD.replace("%(n)s", str(int(n))).replace("%(recent)s", str(int(recent * 100)))
                         .replace("%%", "%"))
            conn.execute("vacuum analyze")
            loaded = time.perf_counter() - started
            rebuild = timed(conn, "select public.refresh_health_rollup(rebuild => true)")
            conn.execute("select public.refresh_health_rollup()")
            refresh = timed(conn, "select public.refresh_health_rollup()")
            print(f"  {label}: loaded in {loaded:.0f}s, rollup rebuilt in {rebuild:.1f}s, "
                  f"a regular refresh {refresh * 1000:.0f} ms", flush=True)
            # The worst gate: the guardrail canary at C, 7 days in (a 7-day stability period).
            conn.execute("select set_rollout_percentage('guardrails_canary', 50, 'bench: at C')")
            conn.execute("update rollout_history set started_at = started_at - interval '8 days' where flag_key = 'guardrails_canary'")
            timed(conn, "select public.daily_health()")  # warm the caches once for both sides
            for q in SEED_Q1_Q5:
                timed(conn, q)

            def seed_q1_q5() -> float:
                return sum(timed(conn, q) for q in SEED_Q1_Q5)

            secs, base, ratio = ratio_rounds(lambda: timed(conn, "select public.daily_health()"), seed_q1_q5)
            results.append({"name": f"{label}: daily_health() / the seed's Q1-Q5 as written, time",
                            "subject": round(secs * 1000, 1), "baseline": round(base * 1000, 1),
                            "ratio": round(ratio, 3), "target": "<= 0.1 (10x faster)", "met": ratio <= 0.1})
            results.append({"name": f"{label}: daily_health() ms (issue target, absolute)",
                            "subject": round(secs * 1000, 1), "baseline": None, "ratio": None,
                            "target": "<= 200 ms", "met": secs <= 0.2})

            # The gate against itself without the rollup (the SLO lines then count raw rows):
            # what the rollup buys, measured in the same run.
            def gate_live_timed() -> float:
                box = []
                with conn.transaction() as tx:
                    conn.execute("update pgcanary_private.health_rollup_state set sealed_until = null")
                    box.append(timed(conn, "select public.rollout_gate('guardrails_canary')"))
                    raise psycopg.Rollback(tx)
                return box[0]

            secs, base, ratio = ratio_rounds(lambda: timed(conn, "select public.rollout_gate('guardrails_canary')"),
                                             gate_live_timed)
            results.append({"name": f"{label}: rollout_gate (7-day period) / the same gate counting raw rows, time",
                            "subject": round(secs * 1000, 1), "baseline": round(base * 1000, 1),
                            "ratio": round(ratio, 3), "target": "reference", "met": None})
            results.append({"name": f"{label}: rollout_gate ms (issue target, absolute)",
                            "subject": round(secs * 1000, 1), "baseline": None, "ratio": None,
                            "target": "<= 100 ms", "met": secs <= 0.1})
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database "{name}" with (force)')
    return results


BENCHES = {"flags": bench_flags, "governance": bench_governance}


def main(selected: list[str]) -> int:
    server = ThrowawayPostgres()
    try:
        url = server.url()
        migrate(url)
        report = {"seconds_per_run": SECONDS, "rounds": ROUNDS, "results": {}}
        for name, bench in BENCHES.items():
            if selected and name not in selected:
                continue
            print(f"== {name}", flush=True)
            rows = bench(url)
            report["results"][name] = rows
            for r in rows:
                flag = {True: "ok", False: "MISSED", None: ""}[r["met"]]
                if r["baseline"] is None:
                    print(f"  {r['name']}: {r['subject']} (target {r['target']}) {flag}", flush=True)
                else:
                    print(f"  {r['name']}: {r['subject']} vs {r['baseline']} -> ratio {r['ratio']} "
                          f"(target {r['target']}) {flag}", flush=True)
        (HERE / "results.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"written {HERE / 'results.json'}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
