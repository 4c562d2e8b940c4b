"""Bounded, input-free errors (issue 15, point 3): an error names the parameter and the rule and
shows at most a short excerpt of what it got, with phone numbers cut to their prefix and
control characters replaced. The server and PostgREST log every error message."""

from __future__ import annotations

import re

import psycopg
import pytest

BIG = "x" * 1_000_000
PHONEY = "cliente 5511987654321\x01\x1b[31m" + "y" * 100  # (text cannot hold NUL)

CALLS = [
    ("select pode_enviar_com_dedupe(cliente_id => gen_random_uuid(), method => %s)", "PC030"),
    ("select outbox_claim(worker_id => %s, batch_size => 1, lease_seconds => 30)", "PC030"),
    ("select check_outbound_guardrails(cliente_id => gen_random_uuid(), telefone => '5511987654321', method => %s)", "PC021"),
    ("select check_outbound_guardrails(cliente_id => gen_random_uuid(), telefone => '5511987654321', method => 'followup', channel => %s)", "PC022"),
    ("select toggle_campanhas(acao => %s, reason => 'test')", None),
    ("select get_rollout_status(flag_key => %s)", None),
    ("select circuit_allow(name => %s)", None),
]


@pytest.mark.parametrize("sql, sqlstate", CALLS, ids=[c[0].split("(")[0].removeprefix("select ") for c in CALLS])
@pytest.mark.parametrize("value", [BIG, PHONEY], ids=["1MB", "phone_and_control_chars"])
def test_errors_show_a_short_redacted_excerpt(database_url, sql, sqlstate, value):
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(sql, (value,))
    diag = raised.value.diag
    assert diag.sqlstate.startswith("PC"), (diag.sqlstate, diag.message_primary[:200])
    if sqlstate:
        assert diag.sqlstate == sqlstate
    message = diag.message_primary
    assert len(message) < 300, message[:300]
    assert "98765" not in message and "\x01" not in message and "\x1b" not in message, message
