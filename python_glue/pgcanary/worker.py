"""`pgcanary worker`: drains the outbox through the WhatsApp provider.

Every rule is the database's; this loop only moves messages between it and the provider:
  1. expire leases (sending past its lease -> unknown, never resent);
  2. if the breaker is cooling down, wait (no claim, no request);
  3. claim a batch (FOR UPDATE SKIP LOCKED, leased);
  4. per message: outbox_check (check_outbound_guardrails, the sovereign check, obeyed in the
     database: a temporary block holds the message until a time the database computes, a
     permanent one cancels it; it also takes the breaker's half-open probe), send with the
     retry rule (pgcanary.provider), report the outcome (marcar_enviado / marcar_falha /
     outbox_mark_unknown) and circuit_record.
Messages not sent (shutdown, breaker open, lease about to run out) are released, never
sent late. On SIGTERM the message in flight finishes and the rest of the batch is released.
Database errors (Postgres restarting) are retried on a fresh connection; the pool reconnects.
Logs carry counts, never phone numbers or texts.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from pgcanary import circuit, outbox
from pgcanary.db import connect_kwargs
from pgcanary.errors import PgCanaryError
from pgcanary.observability import worker_metrics
from pgcanary.provider import EvolutionClient, Outcome, SendResult

log = logging.getLogger("pgcanary.worker")

DB_ERRORS = (psycopg.OperationalError, PoolTimeout)


@dataclass
class WorkerSettings:
    database_url: str
    evolution_url: str
    evolution_key: str
    evolution_instance: str
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    channel: str = "whatsapp"          # the guardrail's channel and the breaker's name
    batch_size: int = 50
    lease_seconds: int = 120
    poll_interval: float = 1.0
    max_idle: float | None = None      # stop after this many seconds without work (None: never)
    once: bool = False                 # stop as soon as the queue is empty
    connect_timeout: float = 3.0
    read_timeout: float = 15.0
    backoff_initial: float = 0.3
    backoff_max: float = 3.0
    db_retry_seconds: float = 60.0     # how long a report is retried while Postgres is away


class Worker:
    def __init__(self, settings: WorkerSettings, provider: EvolutionClient | None = None):
        self.s = settings
        self.provider = provider or EvolutionClient(
            settings.evolution_url, settings.evolution_key, settings.evolution_instance,
            connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
            backoff_initial=settings.backoff_initial, backoff_max=settings.backoff_max)
        # Autocommit: every report is its own transaction and is durable before the next send.
        self.pool = ConnectionPool(settings.database_url, min_size=1, max_size=1, timeout=5.0,
                                   kwargs={**connect_kwargs(), "autocommit": True}, open=False,
                                   name=f"worker-{settings.worker_id}")
        self.stopping = threading.Event()
        self.stats: Counter[str] = Counter()
        self.metrics = worker_metrics()
        self._synced: Counter[str] = Counter()  # what the metrics have of self.stats
        self._breaker_open: bool | None = None

    # -- database calls: each on a pooled connection, retried while Postgres is away ----------
    def _db(self, fn: Callable[..., Any], *args: Any, retry_seconds: float | None = None, **kwargs: Any) -> Any:
        retrying = Retrying(stop=stop_after_delay(self.s.db_retry_seconds if retry_seconds is None else retry_seconds),
                            wait=wait_exponential(multiplier=0.1, max=2.0),
                            retry=retry_if_exception_type(DB_ERRORS), reraise=True)
        for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self.stats["db_retries"] += 1
                with self.pool.connection() as conn:
                    return fn(*args, conn=conn, **kwargs)
        raise AssertionError("unreachable")

    # -- the loop ---------------------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:
        self.stopping.set()

    def run(self) -> dict[str, int]:
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        self.pool.open(wait=False)
        idle_since = time.monotonic()
        try:
            while not self.stopping.is_set():
                try:
                    worked = self.run_once()
                    self.metrics.sync(self.stats, self._synced, self._breaker_open)
                except DB_ERRORS:
                    # The claim or the lease sweep met a restarting Postgres: nothing is held
                    # that is not leased in the database; try again shortly.
                    self.stats["db_unavailable"] += 1
                    self.stopping.wait(min(self.s.poll_interval, 1.0))
                    continue
                now = time.monotonic()
                if worked:
                    idle_since = now
                    continue
                if self.s.once or (self.s.max_idle is not None and now - idle_since >= self.s.max_idle):
                    break
                self.stopping.wait(self.s.poll_interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.pool.close()
            self.provider.close()
        self.metrics.sync(self.stats, self._synced, self._breaker_open)
        log.info("worker stopped", extra={"worker_id": self.s.worker_id, **dict(self.stats)})
        return dict(self.stats)

    def run_once(self) -> bool:
        """One claim and its batch. True when there was work (or the breaker held it back)."""
        expired = self._db(outbox.outbox_expire_leases, retry_seconds=0)
        self.stats["leases_expired"] += expired
        status = self._db(circuit.circuit_status, self.s.channel, retry_seconds=0)
        self._breaker_open = bool(status["cooling_down"])
        if status["cooling_down"]:
            self.stats["circuit_waits"] += 1
            until = datetime.fromisoformat(status["open_until"]) if isinstance(status["open_until"], str) else status["open_until"]
            wait = (until - datetime.now(timezone.utc)).total_seconds() if until else self.s.poll_interval
            self.stopping.wait(max(0.05, min(wait, self.s.poll_interval)))
            return True  # work is waiting behind the breaker: not idle
        batch = self._db(outbox.outbox_claim, self.s.worker_id, self.s.batch_size, self.s.lease_seconds, retry_seconds=0)
        if not batch:
            return bool(expired)
        self.stats["claimed"] += len(batch)
        # Start no send that could outlive the lease: its message would be unknown already.
        deadline = time.monotonic() + self.s.lease_seconds - self.provider.worst_case_seconds() - 1.0
        for i, message in enumerate(batch):
            if self.stopping.is_set() or time.monotonic() > deadline:
                self._release(batch[i:], retry_at=None)
                break
            if not self.process(message):
                # The breaker opened: the rest of the batch waits for it, unsent.
                self._release(batch[i + 1:], retry_at=None)
                break
        return True

    def _release(self, messages: list[dict[str, Any]], retry_at: datetime | None) -> None:
        if messages:
            self.stats["released"] += self._db(outbox.outbox_release, self.s.worker_id,
                                               [m["id"] for m in messages], retry_at)

    # -- one message -------------------------------------------------------------------------------
    def process(self, m: dict[str, Any]) -> bool:
        """Checks, sends and reports one claimed message. False when the breaker is open (the
        message was released and the rest of the batch should be too)."""
        payload = m["payload"] or {}
        key = m["dedupe_key"]
        # The database decides and applies the verdict (hold until a time it computes, or
        # cancel); only "send" leaves the message with us.
        verdict = self._db(outbox.outbox_check, self.s.worker_id, m["id"], self.s.channel)
        if verdict["disposition"] == "hold":
            self.stats["held"] += 1
            if verdict["block_reason"] == "circuit_open":
                self.stats["circuit_open"] += 1
                return False  # the rest of the batch waits behind the breaker too
            return True
        if verdict["disposition"] == "cancel":
            self.stats["cancelled"] += 1
            return True

        result = self.provider.send_text(payload.get("number", ""), payload.get("text", ""), key)
        self.stats["http_attempts"] += result.attempts
        try:
            self._report(key, result)
        except PgCanaryError as exc:
            # Only an operator's change while we were sending gets here (the message was
            # resolved meanwhile): the database keeps its state, we keep going.
            log.warning("worker %s: report refused (%s)", self.s.worker_id, exc.sqlstate)
            self.stats["report_refused"] += 1
        self._db(circuit.circuit_record, self.s.channel, result.provider_healthy)
        return True

    def _report(self, key: str, result: SendResult) -> None:
        if result.outcome is Outcome.SENT:
            self._db(outbox.marcar_enviado, key, result.provider_message_id)
            self.stats["sent"] += 1
        elif result.outcome is Outcome.UNKNOWN:
            self._db(outbox.outbox_mark_unknown, key, result.error)
            self.stats["unknown"] += 1
        else:  # FAILED, or NOT_SENT after every attempt: not delivered, not retried further
            self._db(outbox.marcar_falha, key, result.error, False)
            self.stats["failed"] += 1
