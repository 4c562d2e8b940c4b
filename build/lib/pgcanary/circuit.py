"""RPC wrappers for functions/circuit.sql: the circuit breaker shared by all workers."""

from __future__ import annotations

from typing import Any

import psycopg

from pgcanary.db import rpc

Conn = psycopg.Connection | None


def circuit_allow(name: str, *, conn: Conn = None) -> bool:
    """May a request go through now? After the open period exactly one caller gets True (the probe)."""
    return rpc("circuit_allow", {"name": (name, "text")}, conn=conn)


def circuit_record(name: str, success: bool, *, conn: Conn = None) -> str:
    """Reports a request's outcome; returns the breaker's state after it."""
    return rpc("circuit_record", {"name": (name, "text"), "success": (success, "boolean")}, conn=conn)


def circuit_status(name: str, *, conn: Conn = None) -> dict[str, Any]:
    return rpc("circuit_status", {"name": (name, "text")}, conn=conn)


def circuit_configure(name: str, failure_threshold: int = 5, open_seconds: int = 60, *,
                      conn: Conn = None) -> dict[str, Any]:
    return rpc("circuit_configure", {"name": (name, "text"), "failure_threshold": (failure_threshold, "integer"),
                                     "open_seconds": (open_seconds, "integer")}, conn=conn)
