"""The retry rule of pgcanary.provider against the fake Evolution API over real HTTP: each
answer is classified, retried only when the provider surely did not process it, and the
number of requests the provider received is the proof."""

from __future__ import annotations

import socket

import pytest

from fake_provider import API_KEY, INSTANCE, FakeProvider
from pgcanary.provider import EvolutionClient, Outcome


def _client(url: str, **kw) -> EvolutionClient:
    kw.setdefault("read_timeout", 0.3)
    kw.setdefault("connect_timeout", 0.5)
    return EvolutionClient(url, API_KEY, INSTANCE, backoff_initial=0.01, backoff_max=0.02, **kw)


@pytest.mark.parametrize("fault, outcome, requests", [
    ("201", Outcome.SENT, 1),
    ("429", Outcome.NOT_SENT, 3),
    ("503", Outcome.NOT_SENT, 3),
    ("400", Outcome.FAILED, 1),
    ("500", Outcome.UNKNOWN, 1),
    ("502", Outcome.UNKNOWN, 1),
    ("504", Outcome.UNKNOWN, 1),
    ("slow", Outcome.UNKNOWN, 1),
    ("drop", Outcome.UNKNOWN, 1),
])
def test_each_answer_is_classified_and_retried_only_when_not_processed(fault, outcome, requests):
    faults = {} if fault == "201" else {fault: 1.0}
    with FakeProvider(faults, slow_seconds=1.0) as fake, _client(fake.url) as client:
        result = client.send_text("5511999990000", "Olá", "key-1")
    assert result.outcome is outcome
    assert result.attempts == requests
    assert len(fake.requests) == requests, "the provider saw a different number of requests"
    assert fake.max_deliveries() <= 1
    if outcome is Outcome.SENT:
        assert result.provider_message_id
    else:
        assert result.error and "5511" not in result.error


def test_a_transient_refusal_then_success_is_sent_once():
    with FakeProvider() as fake, _client(fake.url) as client:
        fake.script = ["503"]
        result = client.send_text("5511999990000", "Olá", "key-2")
    assert result.outcome is Outcome.SENT
    assert result.attempts == 2
    assert fake.delivered["key-2"] == 1


def test_connection_refused_is_retried_and_never_reaches_anyone():
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with _client(f"http://127.0.0.1:{port}") as client:
        result = client.send_text("5511999990000", "Olá", "key-3")
    assert result.outcome is Outcome.NOT_SENT
    assert result.attempts == 3
    assert result.error.startswith("connect error")


def test_wrong_api_key_is_a_failure_not_a_retry():
    with FakeProvider() as fake:
        client = EvolutionClient(fake.url, "wrong", INSTANCE, backoff_initial=0.01)
        result = client.send_text("5511999990000", "Olá", "key-4")
        client.close()
    assert result.outcome is Outcome.FAILED and result.error == "HTTP 401"
    assert len(fake.requests) == 0 or all(not r.delivered for r in fake.requests)
