"""OpenFeature provider overhead: the SDK's get_boolean_details through PgcanaryProvider against a
bare pgcanary.flags.is_enabled call, both on one autocommit connection to a throwaway Postgres,
interleaved rounds, median ratio. `python bench/openfeature_bench.py` (PGCANARY_BENCH_CALLS)."""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python_glue"))

from openfeature import api  # noqa: E402
from openfeature.evaluation_context import EvaluationContext  # noqa: E402

from pgcanary.flags import is_enabled  # noqa: E402
from pgcanary.migrate import migrate  # noqa: E402
from pgcanary.openfeature import PgcanaryProvider  # noqa: E402
from pgcanary.throwaway import ThrowawayPostgres  # noqa: E402

CALLS = int(os.environ.get("PGCANARY_BENCH_CALLS", "3000"))
ROUNDS = int(os.environ.get("PGCANARY_BENCH_ROUNDS", "5"))
FLAG = "business_events_canary"


def main() -> None:
    server = ThrowawayPostgres()
    try:
        url = server.url()
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("select set_rollout_percentage(%s, 50, 'bench')", (FLAG,))
            conn.execute("select resume_flag(%s, 'bench')", (FLAG,))
            ids = [uuid.uuid4() for _ in range(CALLS)]
            ctxs = [EvaluationContext(targeting_key=str(i)) for i in ids]
            api.set_provider_and_wait(PgcanaryProvider(connection=conn))
            client = api.get_client()

            def bare() -> float:
                t = time.perf_counter()
                for i in ids:
                    is_enabled(FLAG, i, conn=conn)
                return time.perf_counter() - t

            def raw() -> float:  # the floor: one fixed statement, no wrapper at all
                t = time.perf_counter()
                cur = conn.cursor()
                for i in ids:
                    cur.execute("select public.is_enabled(flag_key => %s::text, cliente_id => %s::uuid)",
                                (FLAG, str(i))).fetchone()
                return time.perf_counter() - t

            def provider() -> float:
                t = time.perf_counter()
                for c in ctxs:
                    client.get_boolean_details(FLAG, False, c)
                return time.perf_counter() - t

            bare(), raw(), provider()  # warm up
            rounds = [(bare(), raw(), provider()) for _ in range(ROUNDS)]
        us = [statistics.median(r[k] for r in rounds) / CALLS * 1e6 for k in range(3)]
        vs_bare = statistics.median(r[2] / r[0] for r in rounds)
        vs_raw = statistics.median(r[2] / r[1] for r in rounds)
        print(f"pgcanary.flags.is_enabled {us[0]:.1f} us/call, raw execute of is_enabled {us[1]:.1f} us/call, "
              f"provider get_boolean_details {us[2]:.1f} us/call; overhead vs is_enabled {100 * (vs_bare - 1):.1f}%, "
              f"vs raw {100 * (vs_raw - 1):.1f}% (median of {ROUNDS} rounds of {CALLS})")
    finally:
        api.shutdown()
        server.stop()


if __name__ == "__main__":
    main()
