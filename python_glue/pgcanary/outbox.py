"""RPC wrappers for functions/outbox.sql: one function, one database call, no rule here.

Payloads hold phone numbers and message text: they are parameters, never logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from pgcanary.db import rpc

Conn = psycopg.Connection | None

CLAIM_COLUMNS = ("id", "dedupe_key", "cliente_id", "conversation_id", "method", "template_ref", "payload",
                 "attempts", "lease_expires_at")


def _uuid(value: UUID | str | None) -> str | None:
    return str(value) if value is not None else None


def gerar_dedupe_key(cliente_id: UUID | str, method: str, template_ref: str | None = None,
                     at: datetime | None = None, *, conn: Conn = None) -> str:
    args: dict[str, tuple[Any, str]] = {"cliente_id": (_uuid(cliente_id), "uuid"), "method": (method, "text"),
                                        "template_ref": (template_ref, "text")}
    if at is not None:
        args["at"] = (at, "timestamptz")
    return rpc("gerar_dedupe_key", args, conn=conn)


def pode_enviar_com_dedupe(cliente_id: UUID | str, method: str, template_ref: str | None = None,
                           payload: dict | None = None, conversation_id: UUID | str | None = None,
                           dedupe_minutes: int = 60, *, conn: Conn = None) -> dict[str, Any]:
    """{pode_enviar, motivo, dedupe_key, message_id[, duplicate_of]}. With a payload
    ({"number", "text"}) the worker sends it; without one the caller sends and reports."""
    return rpc("pode_enviar_com_dedupe", {
        "cliente_id": (_uuid(cliente_id), "uuid"), "method": (method, "text"), "template_ref": (template_ref, "text"),
        "payload": (Jsonb(payload) if payload is not None else None, "jsonb"),
        "conversation_id": (_uuid(conversation_id), "uuid"), "dedupe_minutes": (dedupe_minutes, "integer")},
        conn=conn)


def outbox_claim(worker_id: str, batch_size: int, lease_seconds: int, *, conn: Conn = None) -> list[dict[str, Any]]:
    rows = rpc("outbox_claim", {"worker_id": (worker_id, "text"), "batch_size": (batch_size, "integer"),
                                "lease_seconds": (lease_seconds, "integer")}, conn=conn, setof=True)
    return [dict(zip(CLAIM_COLUMNS, row)) for row in rows]


def outbox_release(worker_id: str, message_ids: list[UUID | str], retry_at: datetime | None = None, *,
                   conn: Conn = None) -> int:
    return rpc("outbox_release", {"worker_id": (worker_id, "text"),
                                  "message_ids": ([str(m) for m in message_ids], "uuid[]"),
                                  "retry_at": (retry_at, "timestamptz")}, conn=conn)


def marcar_enviado(dedupe_key: str, provider_message_id: str | None = None, *, conn: Conn = None) -> bool:
    """True when marked now, False when it was already sent (a repeated report)."""
    return rpc("marcar_enviado", {"dedupe_key": (dedupe_key, "text"),
                                  "provider_message_id": (provider_message_id, "text")}, conn=conn)


def marcar_falha(dedupe_key: str, error: str, retryable: bool = False, *, conn: Conn = None) -> str:
    """Returns the new status: 'queued' (retryable, retried later) or 'failed'."""
    return rpc("marcar_falha", {"dedupe_key": (dedupe_key, "text"), "error": (error, "text"),
                                "retryable": (retryable, "boolean")}, conn=conn)


def outbox_mark_unknown(dedupe_key: str, error: str, *, conn: Conn = None) -> str:
    return rpc("outbox_mark_unknown", {"dedupe_key": (dedupe_key, "text"), "error": (error, "text")}, conn=conn)


def outbox_expire_leases(*, conn: Conn = None) -> int:
    return rpc("outbox_expire_leases", {}, conn=conn)


def outbox_resolve(message_id: UUID | str, resolution: str, reason: str, provider_message_id: str | None = None, *,
                   conn: Conn = None) -> dict[str, Any]:
    return rpc("outbox_resolve", {"message_id": (_uuid(message_id), "uuid"), "resolution": (resolution, "text"),
                                  "reason": (reason, "text"), "provider_message_id": (provider_message_id, "text")},
               conn=conn)


def outbox_unknown(max_rows: int = 100, *, conn: Conn = None) -> list[tuple]:
    return rpc("outbox_unknown", {"max_rows": (max_rows, "integer")}, conn=conn, setof=True)


def outbox_metrics(*, conn: Conn = None) -> dict[str, Any]:
    return rpc("outbox_metrics", {}, conn=conn)


def outbox_check(worker_id: str, message_id: UUID | str, channel: str = "whatsapp", *,
                 conn: Conn = None) -> dict[str, Any]:
    """The guardrail's verdict on a claimed message, already obeyed in the database:
    disposition send (send it now), hold (requeued until hold_until) or cancel (final)."""
    return rpc("outbox_check", {"worker_id": (worker_id, "text"), "message_id": (_uuid(message_id), "uuid"),
                                "channel": (channel, "text")}, conn=conn)
