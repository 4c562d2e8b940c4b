"""Slack tools: the seed's definitions, confirmation before any critical change, the Slack user
as the audited actor, errors returned to the assistant instead of raised."""

from __future__ import annotations

import psycopg
import pytest

from pgcanary import slack_tools


@pytest.fixture
def conn(database_url):
    """One autocommit connection; the flags this file turns are put back afterwards."""
    with psycopg.connect(database_url, autocommit=True) as c:
        saved = c.execute("select flag_key, value from feature_flags"
                          " where flag_key in ('pausar_julia', 'campaigns', 'external_handoff')").fetchall()
        yield c
        for key, value in saved:
            c.execute("update feature_flags set value = %s where flag_key = %s", (psycopg.types.json.Jsonb(value), key))


def _flag(c, key):
    return c.execute("select value from feature_flags where flag_key = %s", (key,)).fetchone()[0]


def _last_audit(c, key):
    return c.execute("select actor, reason, new_value from feature_flag_audit where flag_key = %s"
                     " order by audit_id desc limit 1", (key,)).fetchone()


def test_definitions_match_the_seed():
    assert [t["name"] for t in slack_tools.TOOLS] == ["pausar_julia", "retomar_julia", "toggle_campanhas",
                                                      "toggle_ponte_externa"]
    # Seed 002, gap B1, as written there.
    assert slack_tools.TOOL_TOGGLE_CAMPANHAS == {
        "name": "toggle_campanhas",
        "description": 'Ativa ou desativa campanhas.\n\nQUANDO USAR:\n- "desativa campanhas"\n- "para as campanhas"\n'
                       '- "liga campanhas"\n\nACAO CRITICA: Peca confirmacao.',
        "input_schema": {"type": "object", "properties": {"acao": {"type": "string", "enum": ["on", "off", "status"]}},
                         "required": ["acao"]},
    }
    assert slack_tools.TOOL_TOGGLE_PONTE_EXTERNA["input_schema"]["properties"]["acao"]["enum"] == ["status", "on", "off"]
    for tool in slack_tools.TOOLS:
        assert "ACAO CRITICA: Peca confirmacao." in tool["description"]
        assert "confirmed" not in str(tool["input_schema"]), "the model must not be able to confirm for the human"


def test_a_critical_change_waits_for_confirmation(conn):
    conn.execute("update feature_flags set value = '{\"enabled\": true}' where flag_key = 'campaigns'")
    audits = conn.execute("select count(*) from feature_flag_audit").fetchone()[0]
    answer = slack_tools.handle("toggle_campanhas", {"acao": "off"}, "U0TEST", conn=conn)
    assert answer["success"] is False and answer["needs_confirmation"] is True
    assert "DESATIVAR" in answer["message"]
    assert _flag(conn, "campaigns") == {"enabled": True}
    assert conn.execute("select count(*) from feature_flag_audit").fetchone()[0] == audits
    for name, params in (("pausar_julia", {}), ("retomar_julia", {}), ("toggle_ponte_externa", {"acao": "on", "pct": 10})):
        assert slack_tools.handle(name, params, "U0TEST", conn=conn)["needs_confirmation"] is True
    assert conn.execute("select count(*) from feature_flag_audit").fetchone()[0] == audits


def test_confirmed_toggle_campanhas_is_audited_as_the_slack_user(conn):
    answer = slack_tools.handle("toggle_campanhas", {"acao": "off"}, "U0TEST", confirmed=True, conn=conn)
    assert answer["success"] is True and answer["enabled"] is False
    assert _flag(conn, "campaigns") == {"enabled": False}
    actor, reason, new = _last_audit(conn, "campaigns")
    assert (actor, reason, new) == ("slack:U0TEST", "toggle_campanhas off via Slack", {"enabled": False})
    status = slack_tools.handle("toggle_campanhas", {"acao": "status"}, "U0TEST", conn=conn)
    assert status == {"success": True, "enabled": False}


def test_pausar_and_retomar_julia(conn):
    answer = slack_tools.handle("pausar_julia", {"motivo": "duplicatas em massa"}, "U0OPS", confirmed=True, conn=conn)
    assert answer["success"] is True and answer["paused"] is True and answer["actor"] == "slack:U0OPS"
    assert _flag(conn, "pausar_julia") is True
    assert _last_audit(conn, "pausar_julia")[:2] == ("slack:U0OPS", "duplicatas em massa")
    answer = slack_tools.handle("retomar_julia", {}, "U0OPS", confirmed=True, conn=conn)
    assert answer["paused"] is False
    assert _last_audit(conn, "pausar_julia")[:2] == ("slack:U0OPS", "retomar_julia via Slack")


def test_toggle_ponte_externa_steps_of_the_seed(conn):
    status = slack_tools.handle("toggle_ponte_externa", {"acao": "status"}, "U0OPS", conn=conn)
    assert status["success"] is True and "canary_pct" in status
    for params, pct in (({"acao": "on", "pct": 10}, 10), ({"acao": "on", "pct": 50}, 50), ({"acao": "on"}, 100)):
        answer = slack_tools.handle("toggle_ponte_externa", params, "U0OPS", confirmed=True, conn=conn)
        assert (answer["success"], answer["enabled"], answer["canary_pct"]) == (True, True, pct)
    answer = slack_tools.handle("toggle_ponte_externa", {"acao": "off"}, "U0OPS", confirmed=True, conn=conn)
    assert answer["enabled"] is False
    assert _last_audit(conn, "external_handoff")[:2] == ("slack:U0OPS", "toggle_ponte_externa off via Slack")


def test_bad_input_comes_back_as_an_error_and_changes_nothing(conn):
    before = _flag(conn, "external_handoff")
    answer = slack_tools.handle("toggle_ponte_externa", {"acao": "on", "pct": 150}, "U0OPS", confirmed=True, conn=conn)
    assert answer["success"] is False
    assert "150" in answer["error"] and answer["hint"]
    assert _flag(conn, "external_handoff") == before
    assert slack_tools.handle("apagar_tudo", {}, "U0OPS", confirmed=True, conn=conn)["success"] is False
