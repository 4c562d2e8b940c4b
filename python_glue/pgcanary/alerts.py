"""RPC wrappers for functions/alerts.sql (the alerts outbox): one function, one database call."""

from __future__ import annotations

from datetime import datetime

import psycopg

from pgcanary.db import rpc

Conn = psycopg.Connection | None


def alert_enqueue(kind: str, text: str, *, conn: Conn = None) -> int:
    return rpc("alert_enqueue", {"kind": (kind, "text"), "text": (text, "text")}, conn=conn)


def alert_claim(max_rows: int = 20, *, conn: Conn = None) -> list[tuple]:
    return rpc("alert_claim", {"max_rows": (max_rows, "integer")}, conn=conn, setof=True)


def alert_delivered(alert_id: int, *, conn: Conn = None) -> bool:
    return rpc("alert_delivered", {"alert_id": (alert_id, "bigint")}, conn=conn)


def alert_failed(alert_id: int, error: str, *, conn: Conn = None) -> datetime:
    return rpc("alert_failed", {"alert_id": (alert_id, "bigint"), "error": (error, "text")}, conn=conn)
