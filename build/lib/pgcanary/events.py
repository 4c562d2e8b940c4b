"""RPC wrappers for functions/events.sql, and the scheduler jobs of business events.

Emission (`emit_event`, `emit_events`) never raises into the caller: business events are
additive and must not block the work that produces them (seed 8.2). A failure is logged
with the event type, the SQLSTATE and the exception class only, never the parameters (they
hold client ids and may hold phone numbers), and the call returns None. With the caller's
connection the call runs in a savepoint, so a refused event does not abort the caller's
transaction. The other wrappers are operator and scheduler tools: they raise.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from pgcanary import db
from pgcanary.db import rpc

logger = logging.getLogger(__name__)

Conn = psycopg.Connection | None

# How long an emitter may wait for a pooled connection before giving up on the event.
EMIT_POOL_TIMEOUT = float(os.environ.get("PGCANARY_EMIT_POOL_TIMEOUT", "2"))


def _id(value: UUID | str | None) -> str | None:
    return str(value) if value is not None else None


@contextmanager
def _savepoint(conn: Conn) -> Iterator[psycopg.Connection]:
    if conn is not None:
        with conn.transaction():  # a savepoint inside the caller's transaction
            yield conn
        return
    with db.pool().connection(timeout=EMIT_POOL_TIMEOUT) as pooled:
        yield pooled


def _not_emitted(what: str, exc: Exception) -> None:
    state = getattr(exc, "sqlstate", None) or "-"
    logger.warning("business event %s not emitted: %s (SQLSTATE %s)", what, type(exc).__name__, state)


def emit_event(event_type: str, cliente_id: UUID | str | None = None, conversation_id: UUID | str | None = None,
               event_props: Mapping[str, Any] | None = None, *, conn: Conn = None) -> str | None:
    """The event's id, or None when the rollout skipped it or it could not be written."""
    try:
        with _savepoint(conn) as c:
            result = rpc("emit_event", {"event_type": (event_type, "text"), "cliente_id": (_id(cliente_id), "uuid"),
                                        "conversation_id": (_id(conversation_id), "uuid"),
                                        "event_props": (Jsonb(dict(event_props or {})), "jsonb")}, conn=c)
    except Exception as exc:  # never into the caller (seed 8.2)
        _not_emitted(repr(event_type)[:80], exc)
        return None
    return str(result) if result is not None else None


def emit_events(events: Iterable[Mapping[str, Any]], *, conn: Conn = None) -> list[str | None] | None:
    """Batch form: one id per event in input order (None where the rollout skipped it), or
    None for the whole batch when it could not be written (a bad element refuses them all)."""
    batch = [{"event_type": e.get("event_type"), "cliente_id": _id(e.get("cliente_id")),
              "conversation_id": _id(e.get("conversation_id")), "event_props": dict(e.get("event_props") or {})}
             for e in events]
    try:
        with _savepoint(conn) as c:
            result = rpc("emit_events", {"events": (Jsonb(batch), "jsonb")}, conn=c)
    except Exception as exc:
        _not_emitted(f"batch of {len(batch)}", exc)
        return None
    return [str(x) if x is not None else None for x in result]


def register_event_type(event_type: str, category: str, description: str, *, conn: Conn = None) -> bool:
    return rpc("register_event_type", {"event_type": (event_type, "text"), "category": (category, "text"),
                                       "description": (description, "text")}, conn=conn)


def get_rollout_report(*, conn: Conn = None) -> dict[str, Any]:
    return rpc("get_rollout_report", {}, conn=conn)


def refresh_event_rollup(*, conn: Conn = None) -> dict[str, Any]:
    return rpc("refresh_event_rollup", {}, conn=conn)


def maintain_event_partitions(days_ahead: int = 7, retain_days: int = 30, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("maintain_event_partitions", {"days_ahead": (days_ahead, "integer"),
                                             "retain_days": (retain_days, "integer")}, conn=conn)


def register_jobs(scheduler, *, slack_webhook_url: str | None = None, retain_days: int = 30) -> list[str]:
    """Adds the business-events jobs to an APScheduler 3 scheduler (times in UTC):
    the hourly rollup every 5 minutes, partition maintenance daily at 03:10, and, with a
    webhook, the Slack rollout report daily at 09:00 (seed 8.3)."""
    from pgcanary import slack

    jobs = [
        scheduler.add_job(refresh_event_rollup, "interval", minutes=5, id="events_refresh_rollup",
                          replace_existing=True, max_instances=1, coalesce=True),
        scheduler.add_job(maintain_event_partitions, "cron", hour=3, minute=10, timezone="UTC",
                          kwargs={"retain_days": retain_days}, id="events_maintain_partitions",
                          replace_existing=True, max_instances=1, coalesce=True),
    ]
    if slack_webhook_url:
        jobs.append(scheduler.add_job(slack.post_rollout_report, "cron", hour=9, minute=0, timezone="UTC",
                                      args=[slack_webhook_url], id="events_rollout_report",
                                      replace_existing=True, max_instances=1, coalesce=True))
    return [job.id for job in jobs]
