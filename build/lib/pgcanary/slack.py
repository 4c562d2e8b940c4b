"""Slack: the business events rollout report (seed 000, Story 8.3), posted through an
incoming webhook with slack_sdk. The data comes from the get_rollout_report RPC; this module
only formats it as Slack mrkdwn and posts it.

The seed's report reads status['rollout_pct'], a key its status never returns (a KeyError
on every run); the RPC's key is 'percentage'.
"""

from __future__ import annotations

from typing import Any

import psycopg
from slack_sdk.webhook import WebhookClient, WebhookResponse

from pgcanary import events


def _escape(text: str) -> str:
    # Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_rollout_report(report: dict[str, Any]) -> str:
    """The seed's report, line for line (in Portuguese, as the team reads it), plus the last hour."""
    counts: dict[str, int] = report.get("counts_24h") or {}
    lines = [
        "*📊 Business Events Rollout Status*",
        "",
        f"*Fase:* {_escape(str(report['phase']))}",
        f"*Rollout:* {report['percentage']}%",
        f"*Habilitado:* {'✅' if report['enabled'] else '❌'}",
        f"*Última hora:* {report.get('events_last_hour', 0)} eventos",
        "",
        "*Eventos (últimas 24h):*",
    ]
    for event_type, count in sorted(counts.items()):
        lines.append(f"  • {_escape(event_type)}: {count}")
    if not counts:
        lines.append("  • Nenhum evento registrado")
    return "\n".join(lines)


class SlackPostFailed(RuntimeError):
    def __init__(self, response: WebhookResponse):
        super().__init__(f"Slack webhook answered {response.status_code}: {str(response.body)[:200]}")
        self.response = response


def post_rollout_report(webhook_url: str, *, conn: psycopg.Connection | None = None,
                        timeout: int = 10) -> WebhookResponse:
    """Reads the report, posts it; raises SlackPostFailed when Slack does not answer 200."""
    text = format_rollout_report(events.get_rollout_report(conn=conn))
    response = WebhookClient(webhook_url, timeout=timeout).send(text=text)
    if response.status_code != 200:
        raise SlackPostFailed(response)
    return response
