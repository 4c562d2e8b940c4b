"""RPC wrappers for functions/handoff.sql: the external handoff (ponte externa)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from pgcanary.db import rpc

Conn = psycopg.Connection | None


def toggle_ponte_externa(acao: str, pct: int | None = None, reason: str | None = None, *,
                         conn: Conn = None) -> dict[str, Any]:
    return rpc("toggle_ponte_externa", {"acao": (acao, "text"), "pct": (pct, "integer"), "reason": (reason, "text")},
               conn=conn)


def open_handoff(vaga_id: UUID | str, cliente_id: UUID | str, conversation_id: UUID | str | None = None, *,
                 conn: Conn = None) -> dict[str, Any]:
    return rpc("open_handoff", {"vaga_id": (str(vaga_id), "uuid"), "cliente_id": (str(cliente_id), "uuid"),
                                "conversation_id": (str(conversation_id) if conversation_id else None, "uuid")},
               conn=conn)


def confirm_handoff(handoff_id: UUID | str, ip: str, *, conn: Conn = None) -> dict[str, Any]:
    """The /handoff/confirm endpoint's call: {confirmed, reason, handoff_id[, retry_after_seconds]}."""
    return rpc("confirm_handoff", {"handoff_id": (str(handoff_id), "uuid"), "ip": (ip, "text")}, conn=conn)


def close_handoff(handoff_id: UUID | str, reason: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("close_handoff", {"handoff_id": (str(handoff_id), "uuid"), "reason": (reason, "text")}, conn=conn)
