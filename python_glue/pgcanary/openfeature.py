"""OpenFeature provider: pgcanary's flags through the OpenFeature SDK (`pgcanary[openfeature]`).

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from pgcanary.openfeature import PgcanaryProvider

    api.set_provider_and_wait(PgcanaryProvider(database_url="postgresql://..."))
    client = api.get_client()
    client.get_boolean_value("business_events_canary", False,
                             EvaluationContext(targeting_key=str(cliente_id)))

The decision is public.evaluate_flag's (functions/flags.sql), one statement per evaluation,
no cache: a kill_flag is seen by the next evaluation. Nothing here decides a flag; this module
only translates the SQL answer into OpenFeature's vocabulary. Every evaluation returns; on any
error the caller's default comes back with an error code (docs/openfeature.md).
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.exception import ErrorCode
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("pgcanary.openfeature needs the OpenFeature SDK: pip install 'pgcanary[openfeature]'") from exc

from pgcanary.db import connect_kwargs
from pgcanary.flags import REPORT

# The SQL reasons are OpenFeature's names already (evaluate_flag was written against the
# spec); ERROR carries its error_code. Anything unknown is reported, never guessed.
_REASONS = {r: Reason(r) for r in ("SPLIT", "TARGETING_MATCH", "DISABLED", "STATIC", "DEFAULT")}
_ERRORS = {e: ErrorCode(e) for e in ("FLAG_NOT_FOUND", "PARSE_ERROR", "TARGETING_KEY_MISSING", "GENERAL")}
_MESSAGES = {
    ErrorCode.FLAG_NOT_FOUND: "no such flag in public.feature_flags",
    ErrorCode.PARSE_ERROR: "the flag's stored value is not a valid pgcanary flag (see docs/flags.md)",
    ErrorCode.TARGETING_KEY_MISSING: "the evaluation context has no targeting_key (the cliente_id)",
    ErrorCode.INVALID_CONTEXT: "the targeting_key is not a UUID (pgcanary targets by cliente_id)",
    ErrorCode.TYPE_MISMATCH: "pgcanary flags are boolean decisions: use get_boolean_value/details",
    ErrorCode.GENERAL: "the flag could not be evaluated",
}
_QUERY = "select public.evaluate_flag(flag_key => %s::text, cliente_id => %s::uuid)"


def _error(default: Any, code: ErrorCode) -> FlagResolutionDetails:
    # Messages are ours: never the flag's value or the caller's key (they may be personal data).
    return FlagResolutionDetails(value=default, reason=Reason.ERROR, error_code=code, error_message=_MESSAGES[code])


class PgcanaryProvider(AbstractProvider):
    """Give exactly one of database_url (the provider opens and closes its own pool), pool (a
    psycopg_pool.ConnectionPool) or connection (a psycopg.Connection, used as is: in
    autocommit mode, or inside the caller's transaction, which the caller ends)."""

    def __init__(self, database_url: str | None = None, *, pool: ConnectionPool | None = None,
                 connection: psycopg.Connection | None = None, pool_size: int = 4) -> None:
        super().__init__()
        if sum(x is not None for x in (database_url, pool, connection)) != 1:
            raise ValueError("PgcanaryProvider needs exactly one of database_url, pool or connection")
        self._own_pool = database_url is not None
        self._pool = pool
        self._conn = connection
        if self._own_pool:
            self._pool = ConnectionPool(database_url, min_size=1, max_size=pool_size,
                                        kwargs={**connect_kwargs(), "autocommit": True}, open=False)

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        if self._own_pool and self._pool is not None and self._pool.closed:
            self._pool.open()

    def shutdown(self) -> None:
        if self._own_pool and self._pool is not None:
            self._pool.close()

    def get_metadata(self) -> Metadata:
        return Metadata(name="pgcanary")

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        if self._conn is not None:
            yield self._conn
        else:
            if self._pool.closed:  # used without api.set_provider_and_wait, which calls initialize
                self._pool.open()
            with self._pool.connection() as conn:
                yield conn

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[bool]:
        key = evaluation_context.targeting_key if evaluation_context is not None else None
        cliente_id = None
        if key not in (None, ""):
            try:
                cliente_id = str(uuid.UUID(str(key)))
            except ValueError:
                return _error(default_value, ErrorCode.INVALID_CONTEXT)
        try:
            with self._connection() as conn:
                decision = conn.cursor(row_factory=tuple_row).execute(_QUERY, (flag_key, cliente_id)).fetchone()[0]
                REPORT.seen(flag_key, conn)  # once a minute at most: for stale_flags
        except Exception:  # noqa: BLE001 - an evaluation never raises (OpenFeature spec 2.2.7)
            return _error(default_value, ErrorCode.GENERAL)
        return self._details(decision, default_value)

    @staticmethod
    def _details(decision: dict[str, Any], default_value: bool) -> FlagResolutionDetails[bool]:
        reason = decision.get("reason")
        if reason == "ERROR" or reason not in _REASONS:
            return _error(default_value, _ERRORS.get(decision.get("error_code"), ErrorCode.GENERAL))
        enabled = decision.get("enabled") is True
        metadata = {k: decision[k] for k in ("bucket", "percentage", "phase") if decision.get(k) is not None}
        return FlagResolutionDetails(value=enabled, reason=_REASONS[reason], variant="on" if enabled else "off",
                                     flag_metadata=metadata)

    def _not_boolean(self, flag_key: str, default_value: Any,
                     evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails:
        return _error(default_value, ErrorCode.TYPE_MISMATCH)

    resolve_string_details = _not_boolean
    resolve_integer_details = _not_boolean
    resolve_float_details = _not_boolean
    resolve_object_details = _not_boolean
