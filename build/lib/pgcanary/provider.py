"""The WhatsApp provider: Evolution API's sendText over HTTP, with the retry rule.

The rule (docs/outbox.md says why): retry only when the provider surely did not process the
request. Evolution API has no idempotency key (seed 002, gap C1), so a resend after a request
that may have been processed can deliver the message twice.

    connection refused, connect timeout, no free connection   -> retry (the request never left)
    HTTP 429, HTTP 503                                       -> retry (refused before processing)
    read timeout, connection dropped after sending,
    HTTP 500, 502, 504 and any other 5xx                     -> unknown: never resent automatically
    HTTP 2xx                                                 -> sent
    any other status (4xx, 3xx)                              -> failed, not retried

At most `max_attempts` (3) attempts, exponential backoff with jitter between them (tenacity).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random


class Outcome(enum.Enum):
    SENT = "sent"
    FAILED = "failed"          # the provider answered and refused: not delivered
    UNKNOWN = "unknown"        # it may have been delivered: reconcile, never resend automatically
    NOT_SENT = "not_sent"      # every attempt was refused before processing (retry rule exhausted)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    error: str | None = None                 # short and free of personal data: "HTTP 503", "read timeout"
    provider_message_id: str | None = None
    attempts: int = 1

    @property
    def provider_healthy(self) -> bool:
        """For the circuit breaker: the provider answered sanely (sent, or refused our request)."""
        return self.outcome in (Outcome.SENT, Outcome.FAILED)


class _NotProcessed(Exception):
    """This attempt surely did not reach the provider's processing: safe to retry."""


RETRY_STATUSES = frozenset({429, 503})


class EvolutionClient:
    """Sends text messages through Evolution API (v2: POST /message/sendText/{instance},
    header `apikey`, body {"number", "text"}).

    Keep-alive is off on purpose: on a reused connection that the server has just closed,
    a failure cannot tell "never sent" from "sent, no answer", and the second would turn a
    harmless race into an unknown outcome. A new connection per message costs little next
    to the provider's own latency."""

    def __init__(self, base_url: str, api_key: str, instance: str, *, connect_timeout: float = 3.0,
                 read_timeout: float = 15.0, max_attempts: int = 3, backoff_initial: float = 0.3,
                 backoff_max: float = 3.0, transport: httpx.BaseTransport | None = None):
        self.instance = instance
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"apikey": api_key},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout),
            limits=httpx.Limits(max_keepalive_connections=0), transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "EvolutionClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def worst_case_seconds(self) -> float:
        """How long one send_text can take, retries included: the worker stops starting sends
        when less than this is left of its lease."""
        timeout = self._http.timeout
        per_attempt = (timeout.connect or 0) + (timeout.read or 0) + (timeout.write or 0)
        waits = sum(min(self.backoff_max, self.backoff_initial * 2 ** i) + self.backoff_initial
                    for i in range(self.max_attempts - 1))
        return per_attempt * self.max_attempts + waits

    def send_text(self, number: str, text: str, dedupe_key: str) -> SendResult:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            # backoff_initial x 2^n, capped, plus up to backoff_initial of jitter so that
            # workers refused together do not come back together.
            wait=wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max) + wait_random(0, self.backoff_initial),
            retry=retry_if_exception_type(_NotProcessed),
            reraise=True)
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    result = self._attempt(number, text, dedupe_key)
            return SendResult(result.outcome, result.error, result.provider_message_id, attempts)
        except _NotProcessed as exc:
            return SendResult(Outcome.NOT_SENT, f"{exc} after {attempts} attempts", None, attempts)

    def _attempt(self, number: str, text: str, dedupe_key: str) -> SendResult:
        try:
            # The dedupe key travels as a header: Evolution ignores it, a proxy's or the fake
            # provider's log can match requests to outbox rows. It is a hash, not personal data.
            response = self._http.post(f"/message/sendText/{self.instance}", json={"number": number, "text": text},
                                       headers={"X-Dedupe-Key": dedupe_key})
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _NotProcessed("connect error" if isinstance(exc, httpx.ConnectError) else "connect timeout") from exc
        except httpx.PoolTimeout as exc:
            raise _NotProcessed("no connection available") from exc
        except httpx.TimeoutException:
            return SendResult(Outcome.UNKNOWN, "read timeout")
        except httpx.TransportError as exc:
            return SendResult(Outcome.UNKNOWN, f"connection dropped: {type(exc).__name__}")
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(Outcome.SENT, None, _message_id(response))
        if status in RETRY_STATUSES:
            raise _NotProcessed(f"HTTP {status}")
        if status >= 500:
            return SendResult(Outcome.UNKNOWN, f"HTTP {status}")
        return SendResult(Outcome.FAILED, f"HTTP {status}")


def _message_id(response: httpx.Response) -> str | None:
    """Evolution answers {"key": {"id": "..."}, ...}; a 2xx with another body is still sent."""
    try:
        body = response.json()
    except ValueError:
        return None
    key = body.get("key") if isinstance(body, dict) else None
    value = key.get("id") if isinstance(key, dict) else None
    return str(value)[:200] if value else None
