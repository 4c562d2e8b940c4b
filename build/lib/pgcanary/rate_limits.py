"""RPC wrappers for functions/rate_limits.sql. The subject (a phone or an IP) is never logged."""

from __future__ import annotations

from typing import Any

import psycopg

from pgcanary.db import rpc

Conn = psycopg.Connection | None


def rate_limit_hit(scope: str, subject: str, *, conn: Conn = None) -> dict[str, Any]:
    """{allowed, scope, windows, exceeded, retry_after_seconds}; the hit is recorded only when allowed."""
    return rpc("rate_limit_hit", {"scope": (scope, "text"), "subject": (subject, "text")}, conn=conn)


def cleanup_rate_limits(*, conn: Conn = None) -> int:
    """Deletes hits that no window counts any more; the scheduler calls it (e.g. every 10 minutes)."""
    return rpc("cleanup_rate_limits", {}, conn=conn)


def register_jobs(scheduler) -> list[str]:
    """Adds the rate-limit cleanup to an APScheduler 3 scheduler: every 10 minutes, so the
    hits table holds about a day of admitted sends (the longest window) and no more."""
    job = scheduler.add_job(cleanup_rate_limits, "interval", minutes=10, id="rate_limits_cleanup",
                            replace_existing=True, max_instances=1, coalesce=True)
    return [job.id]
