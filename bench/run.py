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


OUTBOX_PLAIN_TABLE = """
    create table if not exists bench_plain_outbox (
        id bigint generated always as identity primary key, dedupe_key text unique not null,
        cliente_id uuid not null, method text not null, payload jsonb, status text not null default 'queued',
        attempts int not null default 0, created_at timestamptz not null default now(), sent_at timestamptz);
    create index if not exists bench_plain_outbox_queued on bench_plain_outbox (id) where status = 'queued'"""


def _fresh_outbox(conn: psycopg.Connection) -> None:
    # Every measurement starts from empty tables, vacuumed: a queue's cost depends on the dead
    # index entries in front of its head, and both sides must start equal.
    conn.execute("truncate bench_plain_outbox, outbound_messages")
    conn.execute("vacuum analyze bench_plain_outbox")
    conn.execute("vacuum analyze outbound_messages")


def _claim_throughput(conn: psycopg.Connection, batch: int, messages: int) -> float:
    """Messages claimed per second, claiming `messages` in calls of `batch` (each call its own
    transaction, as a worker makes them)."""
    _fresh_outbox(conn)
    conn.execute("insert into outbound_messages (dedupe_key, cliente_id, method, payload) "
                 "select md5(g::text), md5('c' || g)::uuid, 'followup', '{\"number\": \"5511999990000\", \"text\": \"x\"}' "
                 "from generate_series(1, %s) g", (messages,))
    conn.execute("vacuum analyze outbound_messages")
    start = time.perf_counter()
    claimed = 0
    while claimed < messages:
        got = conn.execute("select count(*) from public.outbox_claim('bench', %s, 60)", (batch,)).fetchone()[0]
        if got == 0:
            raise RuntimeError("the queue ran dry before the measurement ended")
        claimed += got
    return claimed / (time.perf_counter() - start)


def bench_outbox(url: str) -> list[dict]:
    results = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(OUTBOX_PLAIN_TABLE)

        def cycle(script: str) -> float:
            _fresh_outbox(conn)
            return pgbench(url, script, clients=4)

        tps, base, ratio = ratio_rounds(lambda: cycle("outbox_cycle.sql"), lambda: cycle("outbox_plain_cycle.sql"))
        results.append({"name": "outbox cycle (pode_enviar_com_dedupe -> outbox_claim 1 -> marcar_enviado) TPS / "
                                "the same as three plain statements on a bare table (4 clients)",
                        "subject": round(tps), "baseline": round(base), "ratio": round(ratio, 3),
                        "target": ">= 1.0", "met": ratio >= 1.0})
        batch, single, ratio = ratio_rounds(lambda: _claim_throughput(conn, 100, 20_000),
                                            lambda: _claim_throughput(conn, 1, 2_000))
        results.append({"name": "outbox_claim: messages/s claiming 100 per call / claiming 1 per call",
                        "subject": round(batch), "baseline": round(single), "ratio": round(ratio, 3),
                        "target": ">= 5.0", "met": ratio >= 5.0})
        conn.execute("drop table bench_plain_outbox")
        conn.execute("truncate outbound_messages")
    return results


BENCHES = {"flags": bench_flags, "outbox": bench_outbox}


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
                print(f"  {r['name']}: {r['subject']} vs {r['baseline']} -> ratio {r['ratio']} "
                      f"(target {r['target']}) {flag}", flush=True)
        (HERE / "results.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"written {HERE / 'results.json'}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
