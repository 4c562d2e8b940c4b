"""RPC wrappers for functions/health.sql, and the daily panel as a Slack message.

The panel's numbers and its OK / ALERT come from daily_health(); this module only words them.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pgcanary.db import rpc

Conn = psycopg.Connection | None


def daily_health(*, conn: Conn = None) -> dict[str, Any]:
    return rpc("daily_health", {}, conn=conn)


def daily_health_volume(*, conn: Conn = None) -> list[tuple[str, int, int]]:
    return rpc("daily_health_volume", {}, conn=conn, setof=True)


def refresh_health_rollup(*, conn: Conn = None) -> dict[str, Any]:
    return rpc("refresh_health_rollup", {}, conn=conn)


def _escape(text: str) -> str:
    # Slack mrkdwn control characters.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_daily_health(report: dict[str, Any]) -> str:
    """The seed's "postar resumo no Slack": status first, then the failing lines, then every SLO.
    Counts only: no client ids leave the database in a report."""
    ok = report["status"] == "OK"
    lines = [f"*🩺 Painel diário de saúde: {'OK ✅' if ok else 'ALERT 🚨'}*",
             f"Janela: últimas 24h (desde {str(report['since'])[:16].replace('T', ' ')} UTC)"]
    if not ok:
        lines += ["", "*Falhando:*"] + [f"  • {_escape(a)}" for a in report["alerts"]]
    lines += ["", "*SLOs:*"]
    for s in report["slos"]:
        mark = "✅" if s["status"] == "OK" else "🚨"
        lines.append(f"  {mark} {_escape(s['slo'])} = {s['value']} (limite {_escape(s['threshold'])})")
    volume = report.get("volume") or []
    total = sum(v["total"] for v in volume)
    lines += ["", f"*Volume (24h):* {total} eventos em {len(volume)} tipos"]
    for v in volume[:8]:
        lines.append(f"  • {_escape(v['event_type'])}: {v['total']} ({v['clientes_unicos']} clientes)")
    lines.append(f"*Segurança:* {report.get('security_findings', 0)} achado(s) em health_security_all")
    stale = report.get("stale_flags") or []
    lines.append(f"*Flags paradas:* {len(stale)} em health_stale_flags")
    for f in stale[:8]:
        lines.append(f"  • {_escape(f['object_name'])}: {_escape(f['check_name'])}")
    return "\n".join(lines)
