"""Slack tools for the kill switches and toggles (seed 002: pausar_julia, gap B1's
toggle_campanhas, the Ponte Externa's toggle_ponte_externa).

The definitions (name, description, input_schema) are what the Slack assistant's LLM sees;
toggle_campanhas is the seed's, verbatim. The handlers only call the RPCs: the flag write,
its audit (who and why) and every rule are the database's.

Confirmation: the seed marks these as "ACAO CRITICA: Peca confirmacao." The description asks
the LLM to confirm, and the handler enforces it: a change runs only when the caller passes
`confirmed=True`, which the Slack integration sets after a human answered the confirmation
prompt (a button or an explicit "sim"). Nothing in the tool's input can set it, so a model
cannot confirm on the human's behalf. Status reads never need confirmation.

Actor: the audit trail names the Slack user (`slack:<user_id>`), set for the transaction of
the call (pgcanary.actor, read by pgcanary_private.current_actor when there is no JWT).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import psycopg

from pgcanary import db, guardrails, handoff
from pgcanary.errors import PgCanaryError

TOOL_PAUSAR_JULIA = {
    "name": "pausar_julia",
    "description": """Pausa a Julia: TODO envio de mensagem e bloqueado (kill switch).

QUANDO USAR:
- "pausa a julia"
- "para tudo"
- "desliga a julia"

ACAO CRITICA: Peca confirmacao.""",
    "input_schema": {
        "type": "object",
        "properties": {
            "motivo": {"type": "string", "description": "Por que pausar (vai para a auditoria)"}
        },
        "required": [],
    },
}

TOOL_RETOMAR_JULIA = {
    "name": "retomar_julia",
    "description": """Retoma a Julia depois de uma pausa: os envios voltam a passar pelos guardrails.

QUANDO USAR:
- "retoma a julia"
- "pode voltar"
- "religa a julia"

ACAO CRITICA: Peca confirmacao.""",
    "input_schema": {
        "type": "object",
        "properties": {
            "motivo": {"type": "string", "description": "Por que retomar (vai para a auditoria)"}
        },
        "required": [],
    },
}

# Seed 002, gap B1, verbatim.
TOOL_TOGGLE_CAMPANHAS = {
    "name": "toggle_campanhas",
    "description": """Ativa ou desativa campanhas.

QUANDO USAR:
- "desativa campanhas"
- "para as campanhas"
- "liga campanhas"

ACAO CRITICA: Peca confirmacao.""",
    "input_schema": {
        "type": "object",
        "properties": {
            "acao": {
                "type": "string",
                "enum": ["on", "off", "status"]
            }
        },
        "required": ["acao"]
    }
}

TOOL_TOGGLE_PONTE_EXTERNA = {
    "name": "toggle_ponte_externa",
    "description": """Liga, desliga ou mostra a ponte externa (handoff medico-divulgador).

QUANDO USAR:
- "status da ponte externa"
- "liga a ponte externa em 10%"
- "ponte externa para todos"
- "desliga a ponte externa"

on sem pct = 100% (producao). off = kill switch.

ACAO CRITICA: Peca confirmacao.""",
    "input_schema": {
        "type": "object",
        "properties": {
            "acao": {
                "type": "string",
                "enum": ["status", "on", "off"]
            },
            "pct": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": "Percentual de clientes (so com on)"
            }
        },
        "required": ["acao"]
    }
}

TOOLS = [TOOL_PAUSAR_JULIA, TOOL_RETOMAR_JULIA, TOOL_TOGGLE_CAMPANHAS, TOOL_TOGGLE_PONTE_EXTERNA]


@contextmanager
def _as_slack_user(user_id: str, conn: psycopg.Connection | None) -> Iterator[psycopg.Connection]:
    actor = "slack:" + "".join(ch for ch in str(user_id) if ch.isalnum() or ch in "@._-")
    with db.connection(conn) as c, c.transaction():
        c.execute("select pg_catalog.set_config('pgcanary.actor', %s, true)", (actor,))
        yield c


def _confirmation(question: str) -> dict[str, Any]:
    return {"success": False, "needs_confirmation": True, "message": question}


def _run(user_id: str, conn: psycopg.Connection | None, call: Callable[[psycopg.Connection], dict]) -> dict[str, Any]:
    try:
        with _as_slack_user(user_id, conn) as c:
            return {"success": True, **call(c)}
    except PgCanaryError as exc:
        return {"success": False, "error": exc.message, "hint": exc.hint}


def handle_pausar_julia(params: dict, user_id: str, *, confirmed: bool = False,
                        conn: psycopg.Connection | None = None) -> dict[str, Any]:
    if not confirmed:
        return _confirmation("Confirma PAUSAR a Julia? Todo envio sera bloqueado ate retomar_julia.")
    reason = params.get("motivo") or "pausar_julia via Slack"
    return _run(user_id, conn, lambda c: guardrails.pausar_julia(reason, conn=c))


def handle_retomar_julia(params: dict, user_id: str, *, confirmed: bool = False,
                         conn: psycopg.Connection | None = None) -> dict[str, Any]:
    if not confirmed:
        return _confirmation("Confirma RETOMAR a Julia? Os envios voltam a sair.")
    reason = params.get("motivo") or "retomar_julia via Slack"
    return _run(user_id, conn, lambda c: guardrails.retomar_julia(reason, conn=c))


def handle_toggle_campanhas(params: dict, user_id: str, *, confirmed: bool = False,
                            conn: psycopg.Connection | None = None) -> dict[str, Any]:
    acao = params.get("acao", "status")
    if acao != "status" and not confirmed:
        verbo = {"on": "ATIVAR", "off": "DESATIVAR"}.get(acao, f"aplicar '{acao}' a")
        return _confirmation(f"Confirma {verbo} as campanhas?")
    return _run(user_id, conn, lambda c: guardrails.toggle_campanhas(acao, f"toggle_campanhas {acao} via Slack", conn=c))


def handle_toggle_ponte_externa(params: dict, user_id: str, *, confirmed: bool = False,
                                conn: psycopg.Connection | None = None) -> dict[str, Any]:
    acao = params.get("acao", "status")
    pct = params.get("pct")
    if acao != "status" and not confirmed:
        alvo = {"off": "DESLIGAR", "on": f"LIGAR em {100 if pct is None else pct}%"}.get(acao, f"aplicar '{acao}' a")
        return _confirmation(f"Confirma {alvo} a ponte externa?")
    reason = f"toggle_ponte_externa {acao}{'' if pct is None else f' {pct}'} via Slack"
    return _run(user_id, conn, lambda c: handoff.toggle_ponte_externa(acao, pct, reason if acao != "status" else None, conn=c))


HANDLERS: dict[str, Callable[..., dict[str, Any]]] = {
    "pausar_julia": handle_pausar_julia,
    "retomar_julia": handle_retomar_julia,
    "toggle_campanhas": handle_toggle_campanhas,
    "toggle_ponte_externa": handle_toggle_ponte_externa,
}


def handle(name: str, params: dict, user_id: str, *, confirmed: bool = False,
           conn: psycopg.Connection | None = None) -> dict[str, Any]:
    """Dispatch a tool call by name (the Slack assistant's tool-use loop calls this)."""
    handler = HANDLERS.get(name)
    if handler is None:
        return {"success": False, "error": f"unknown tool {name!r}"}
    return handler(params, user_id, confirmed=confirmed, conn=conn)
