"""Observable worker and scheduler (issue 13.6, docs/operator.md): JSON log lines without PII,
and Prometheus series fed by the worker's and the scheduler's own counts, over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from fake_provider import API_KEY, INSTANCE, FakeProvider
from pgcanary import observability, outbox, scheduler
from pgcanary.migrate import migrate
from pgcanary.worker import Worker, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(fresh_database):
    migrate(fresh_database)
    return fresh_database


def _enqueue(conn, n: int) -> list[str]:
    numbers = [f"5511987{i:06d}" for i in range(n)]
    for i, number in enumerate(numbers):
        assert outbox.pode_enviar_com_dedupe(uuid.uuid4(), "followup", "obs", {"number": number, "text": f"texto {i}"},
                                             conn=conn)["pode_enviar"]
    return numbers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _series(text: str, name: str, **labels) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}}" if want else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_worker_metrics_count_messages_by_outcome_over_http(db):
    port = _free_port()
    observability.serve(port)
    metrics = lambda: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text  # noqa: E731
    before = _series(metrics(), "pgcanary_worker_messages_total", outcome="sent")
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        _enqueue(conn, 3)
        Worker(WorkerSettings(database_url=db, evolution_url=fake.url, evolution_key=API_KEY,
                              evolution_instance=INSTANCE, worker_id="obs", poll_interval=0.05, max_idle=0.3,
                              connect_timeout=0.3, read_timeout=0.3)).run()
    text = metrics()
    assert _series(text, "pgcanary_worker_messages_total", outcome="sent") - before == 3
    assert "pgcanary_worker_breaker_open 0.0" in text and "pgcanary_worker_last_cycle_timestamp_seconds" in text


def test_scheduler_metrics_show_gates_and_the_guard(db):
    os.environ["DATABASE_URL"] = db
    from pgcanary import db as pooled

    pooled.close_pool()
    try:
        ctx = scheduler.Context(notify=lambda text: None)
        assert scheduler.run_job("guard", scheduler.job_guard, ctx) is not None
        assert scheduler.run_job("health_rollup", scheduler.job_health_rollup, ctx) is not None
    finally:
        pooled.close_pool()
    from prometheus_client import REGISTRY, generate_latest

    text = generate_latest(REGISTRY).decode()
    assert _series(text, "pgcanary_gate_go", flag_key="guardrails_canary") == 0.0 and 'flag_key="guardrails_canary"' in text
    assert _series(text, "pgcanary_guard_last_run_timestamp_seconds") > 0
    assert _series(text, "pgcanary_job_runs_total", job="guard", status="ok") >= 1


def test_worker_logs_are_json_lines_without_phones_or_texts(db):
    with psycopg.connect(db, autocommit=True) as conn, FakeProvider() as fake:
        numbers = _enqueue(conn, 2)
        env = dict(os.environ, DATABASE_URL=db, EVOLUTION_API_URL=fake.url, EVOLUTION_API_KEY=API_KEY,
                   EVOLUTION_INSTANCE=INSTANCE)
        done = subprocess.run([sys.executable, "-m", "pgcanary.cli", "worker", "--worker-id", "obs-cli", "--once",
                               "--poll-interval", "0.1"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    stopped = next(line for line in lines if line["message"] == "worker stopped")
    assert stopped["sent"] == 2 and stopped["worker_id"] == "obs-cli"
    everything = done.stdout + done.stderr
    assert not any(n in everything or n[4:] in everything for n in numbers) and "texto" not in everything
