"""JSON logs and Prometheus metrics for the worker and the scheduler (docs/operator.md).

Logs carry counts, states and our own ids, never phone numbers, texts or client ids; the log
calls in worker.py and scheduler.py are written that way, and the JSON formatter only adds
time, level and logger. Metrics are read from the counts the worker and the scheduler keep
(one source of truth), and served with `--metrics-port`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter as PromCounter, Gauge, start_http_server
from pythonjsonlogger.json import JsonFormatter


def setup_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise


def serve(port: int | None) -> None:
    if port:
        start_http_server(port)


class WorkerMetrics:
    """The worker's counts as Prometheus series: messages by outcome, held, unknown outcomes,
    breaker state. `sync` is called after every claim cycle with the worker's own counter."""

    OUTCOMES = ("sent", "failed", "unknown", "held", "cancelled", "circuit_open", "released", "claimed")

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.messages = PromCounter("pgcanary_worker_messages", "Outbox messages handled by this worker, by outcome",
                                    ["outcome"], registry=registry)
        self.breaker_open = Gauge("pgcanary_worker_breaker_open", "1 while the shared circuit breaker is cooling down",
                                  registry=registry)
        self.last_cycle = Gauge("pgcanary_worker_last_cycle_timestamp_seconds", "When the worker last claimed",
                                registry=registry)

    def sync(self, stats: Counter[str], seen: Counter[str], breaker_open: bool | None = None) -> None:
        """Adds what `stats` counted since `seen` (the caller's last sync, updated here)."""
        for outcome in self.OUTCOMES:
            delta = stats.get(outcome, 0) - seen.get(outcome, 0)
            if delta > 0:
                self.messages.labels(outcome).inc(delta)
                seen[outcome] = stats[outcome]
        if breaker_open is not None:
            self.breaker_open.set(1 if breaker_open else 0)
        self.last_cycle.set(time.time())


class SchedulerMetrics:
    """Job runs by status, the last guard run, gate verdicts and unknown outbox outcomes."""

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.runs = PromCounter("pgcanary_job_runs", "Scheduler job runs by job and status", ["job", "status"],
                                registry=registry)
        self.last_guard = Gauge("pgcanary_guard_last_run_timestamp_seconds", "When guard_tick last ran",
                                registry=registry)
        self.gate = Gauge("pgcanary_gate_go", "1 when the flag's rollout gate says GO, 0 on NO-GO", ["flag_key"],
                          registry=registry)
        self.unknown = Gauge("pgcanary_outbox_unknown", "Outbox messages with an unknown outcome to reconcile",
                             registry=registry)
        self.held = Gauge("pgcanary_outbox_held", "Outbox messages held by a temporary block", registry=registry)

    def job(self, name: str, status: str, summary: dict[str, Any] | None) -> None:
        self.runs.labels(name, status).inc()
        if name == "guard" and status == "ok":
            self.last_guard.set(time.time())
        for flag, verdict in ((summary or {}).get("gates") or {}).items():
            self.gate.labels(flag).set(1 if verdict == "GO" else 0)
        if summary and "unknown" in summary:
            self.unknown.set(summary["unknown"])
        if summary and "held" in summary:
            self.held.set(summary["held"])


_worker_metrics: WorkerMetrics | None = None
_scheduler_metrics: SchedulerMetrics | None = None


def worker_metrics() -> WorkerMetrics:
    """One set of series per process (a registry refuses the same name twice)."""
    global _worker_metrics
    if _worker_metrics is None:
        _worker_metrics = WorkerMetrics()
    return _worker_metrics


def scheduler_metrics() -> SchedulerMetrics:
    global _scheduler_metrics
    if _scheduler_metrics is None:
        _scheduler_metrics = SchedulerMetrics()
    return _scheduler_metrics
