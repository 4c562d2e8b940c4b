"""RPC wrappers for functions/guardrails.sql: the outbound check, opt-out, kill switches.

One function, one database call, no rule here: every decision is the database's. The phone
number is a parameter and is never logged (PII).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from pgcanary.db import rpc

Conn = psycopg.Connection | None


def _uuid(value: UUID | str | None) -> str | None:
    return str(value) if value is not None else None


def check_outbound_guardrails(cliente_id: UUID | str, telefone: str, method: str, channel: str = "whatsapp",
                              conversation_id: UUID | str | None = None,
                              inbound_interaction_id: UUID | str | None = None,
                              bypass_reason: str | None = None, *, conn: Conn = None) -> dict[str, Any]:
    """{allowed, block_reason, bypassed, event_id}. Call it in the transaction that sends (or
    queues) the message: an allowed send is counted against the phone's rate limits."""
    return rpc("check_outbound_guardrails", {
        "cliente_id": (_uuid(cliente_id), "uuid"), "telefone": (telefone, "text"), "method": (method, "text"),
        "channel": (channel, "text"), "conversation_id": (_uuid(conversation_id), "uuid"),
        "inbound_interaction_id": (_uuid(inbound_interaction_id), "uuid"),
        "bypass_reason": (bypass_reason, "text")}, conn=conn)


def opt_out(cliente_id: UUID | str, source: str, telefone: str | None = None, *, conn: Conn = None) -> bool:
    """With telefone (any spelling) the phone is opted out too, for every client record using it."""
    return rpc("opt_out", {"cliente_id": (_uuid(cliente_id), "uuid"), "source": (source, "text"),
                           "telefone": (telefone, "text")}, conn=conn)


def opt_in(cliente_id: UUID | str, source: str, telefone: str | None = None, *, conn: Conn = None) -> bool:
    return rpc("opt_in", {"cliente_id": (_uuid(cliente_id), "uuid"), "source": (source, "text"),
                          "telefone": (telefone, "text")}, conn=conn)


def pausar_julia(reason: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("pausar_julia", {"reason": (reason, "text")}, conn=conn)


def retomar_julia(reason: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("retomar_julia", {"reason": (reason, "text")}, conn=conn)


def toggle_campanhas(acao: str, reason: str | None = None, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("toggle_campanhas", {"acao": (acao, "text"), "reason": (reason, "text")}, conn=conn)
