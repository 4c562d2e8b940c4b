"""RPC wrappers for functions/governance.sql: one function, one database call, no rule here."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgcanary.db import rpc

Conn = psycopg.Connection | None


def rollout_gate(flag_key: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("rollout_gate", {"flag_key": (flag_key, "text")}, conn=conn)


def advance_rollout(flag_key: str, reason: str, force: bool = False, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("advance_rollout", {"flag_key": (flag_key, "text"), "reason": (reason, "text"),
                                   "force": (force, "boolean")}, conn=conn)


def rollback_rollout(flag_key: str, percentage: int, reason: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("rollback_rollout", {"flag_key": (flag_key, "text"), "percentage": (percentage, "integer"),
                                    "reason": (reason, "text")}, conn=conn)


def set_prerequisite(flag_key: str, code: str, status: str, evidence: str | None, *,
                     conn: Conn = None) -> dict[str, Any]:
    return rpc("set_prerequisite", {"flag_key": (flag_key, "text"), "code": (code, "text"),
                                    "status": (status, "text"), "evidence": (evidence, "text")}, conn=conn)


def open_incident(severity: str, title: str, flag_key: str | None = None, details: dict | None = None, *,
                  conn: Conn = None) -> dict[str, Any]:
    return rpc("open_incident", {"severity": (severity, "text"), "title": (title, "text"),
                                 "flag_key": (flag_key, "text"), "details": (Jsonb(details or {}), "jsonb")},
               conn=conn)


def resolve_incident(incident_id: int, resolution: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("resolve_incident", {"incident_id": (incident_id, "bigint"), "resolution": (resolution, "text")},
               conn=conn)


def guard_tick(*, conn: Conn = None) -> dict[str, Any]:
    return rpc("guard_tick", {}, conn=conn)


def flag_overview(*, conn: Conn = None) -> list[tuple]:
    return rpc("flag_overview", {}, conn=conn, setof=True)
