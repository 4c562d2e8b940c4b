"""RPC wrappers for functions/flags.sql: one function, one database call, no rule here."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from typing import Any
from uuid import UUID

import psycopg

from pgcanary.db import rpc

Conn = psycopg.Connection | None
log = logging.getLogger("pgcanary.flags")


class EvaluationReport:
    """Which flags this process evaluated, sent to note_flag_evaluations at most once per
    `every` seconds (and at the first evaluation), so that stale_flags can list flags no
    client evaluates. The evaluation itself stays one read-only statement; the report is one
    more round trip a minute, in a savepoint of the caller's connection, and its failure is
    logged (class name only) and never reaches the caller: the keys wait for the next one."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._pending: set[str] = set()
        self._last = float("-inf")
        self._lock = threading.Lock()

    def seen(self, flag_key: str | None, conn: Conn) -> None:
        if not flag_key:
            return
        with self._lock:
            self._pending.add(flag_key)
            if time.monotonic() - self._last < self.every:
                return
            keys, self._pending, self._last = sorted(self._pending), set(), time.monotonic()
        try:
            with conn.transaction() if conn is not None else nullcontext():
                rpc("note_flag_evaluations", {"flag_keys": (keys, "text[]")}, conn=conn)
        except Exception as exc:  # noqa: BLE001 - a report never breaks an evaluation
            log.warning("flag evaluation report failed: %s", type(exc).__name__)
            with self._lock:
                self._pending.update(keys)


REPORT = EvaluationReport()


def canary_bucket(cliente_id: UUID | str, salt: str | None = None, *, conn: Conn = None) -> int:
    return rpc("canary_bucket", {"cliente_id": (str(cliente_id), "uuid"), "salt": (salt, "text")}, conn=conn)


def evaluate_flag(flag_key: str, cliente_id: UUID | str | None, *, conn: Conn = None) -> dict[str, Any]:
    decision = rpc("evaluate_flag", {"flag_key": (flag_key, "text"),
                                     "cliente_id": (str(cliente_id) if cliente_id else None, "uuid")}, conn=conn)
    REPORT.seen(flag_key, conn)
    return decision


def is_enabled(flag_key: str, cliente_id: UUID | str | None, *, conn: Conn = None) -> bool:
    enabled = rpc("is_enabled", {"flag_key": (flag_key, "text"),
                                 "cliente_id": (str(cliente_id) if cliente_id else None, "uuid")}, conn=conn)
    REPORT.seen(flag_key, conn)
    return enabled


def should_emit_event(cliente_id: UUID | str | None, event_type: str, *, conn: Conn = None) -> bool:
    return rpc("should_emit_event", {"cliente_id": (str(cliente_id) if cliente_id else None, "uuid"),
                                     "event_type": (event_type, "text")}, conn=conn)


def get_rollout_status(flag_key: str = "business_events_canary", *, conn: Conn = None) -> dict[str, Any]:
    return rpc("get_rollout_status", {"flag_key": (flag_key, "text")}, conn=conn)


def set_rollout_percentage(flag_key: str, percentage: int, reason: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("set_rollout_percentage", {"flag_key": (flag_key, "text"), "percentage": (percentage, "integer"),
                                          "reason": (reason, "text")}, conn=conn)


def kill_flag(flag_key: str, reason: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("kill_flag", {"flag_key": (flag_key, "text"), "reason": (reason, "text")}, conn=conn)


def resume_flag(flag_key: str, reason: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("resume_flag", {"flag_key": (flag_key, "text"), "reason": (reason, "text")}, conn=conn)


def add_to_allowlist(cliente_id: UUID | str, flag_key: str = "business_events_canary", *, conn: Conn = None) -> bool:
    return rpc("add_to_allowlist", {"cliente_id": (str(cliente_id), "uuid"), "flag_key": (flag_key, "text")}, conn=conn)


def remove_from_allowlist(cliente_id: UUID | str, flag_key: str = "business_events_canary", *,
                          conn: Conn = None) -> bool:
    return rpc("remove_from_allowlist", {"cliente_id": (str(cliente_id), "uuid"), "flag_key": (flag_key, "text")},
               conn=conn)


def flag_audit_trail(flag_key: str | None = None, max_rows: int = 50, *, conn: Conn = None) -> list[tuple]:
    return rpc("flag_audit_trail", {"flag_key": (flag_key, "text"), "max_rows": (max_rows, "integer")},
               conn=conn, setof=True)
