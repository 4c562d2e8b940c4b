"""The rollout report (seed 8.3) posted with slack_sdk's WebhookClient over real HTTP to a
local server standing in for Slack's incoming webhook; the test reads what Slack would get."""

from __future__ import annotations

import http.server
import json
import threading
import uuid

import psycopg
import pytest

from pgcanary import slack
from pgcanary.migrate import migrate


class FakeSlack:
    """An incoming-webhook endpoint on 127.0.0.1 recording every POST."""

    def __init__(self, status: int = 200, body: bytes = b"ok"):
        self.requests: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers["Content-Length"])
                outer.requests.append({"path": self.path, "content_type": self.headers["Content-Type"],
                                       "body": self.rfile.read(length)})
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/XXXX"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeSlack":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def events_db(pg_server):
    # Rows are committed here: a database of its own, so the shared one stays clean.
    name = "slack_" + uuid.uuid4().hex[:10]
    admin = pg_server.url(database="postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'create database "{name}"')
    url = pg_server.url(database=name)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'drop database "{name}" with (force)')


@pytest.fixture
def conn(events_db):
    with psycopg.connect(events_db, autocommit=True) as c:
        c.execute("delete from business_events")
        c.execute("select pgcanary_private.set_percentage('business_events_canary', 10, 'slack test')")
        c.execute("update feature_flags set value = 'true' where flag_key = 'business_events_enabled'")
        yield c


def test_the_report_is_posted_to_the_webhook(conn):
    conn.execute("select public.emit_events(%s::jsonb)", (json.dumps(
        [{"event_type": "outbound_blocked"}] * 3 + [{"event_type": "opt_out"}]),))
    with FakeSlack() as fake:
        response = slack.post_rollout_report(fake.url, conn=conn)
    assert response.status_code == 200
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request["path"] == "/services/T000/B000/XXXX"
    assert request["content_type"].startswith("application/json")
    text = json.loads(request["body"])["text"]
    assert text.splitlines() == [
        "*📊 Business Events Rollout Status*",
        "",
        "*Fase:* canary_10pct",
        "*Rollout:* 10%",
        "*Habilitado:* ✅",
        "*Última hora:* 4 eventos",
        "",
        "*Eventos (últimas 24h):*",
        "  • opt_out: 1",
        "  • outbound_blocked: 3",
    ]


def test_no_events_says_so_and_a_killed_rollout_shows_disabled(conn):
    conn.execute("select kill_flag('business_events_canary', 'slack test')")
    with FakeSlack() as fake:
        slack.post_rollout_report(fake.url, conn=conn)
    text = json.loads(fake.requests[0]["body"])["text"]
    assert "*Fase:* disabled" in text
    assert "*Rollout:* 10%" in text  # the percentage is kept for resume
    assert "*Habilitado:* ❌" in text
    assert text.endswith("*Eventos (últimas 24h):*\n  • Nenhum evento registrado")


def test_a_refused_post_raises(conn):
    with FakeSlack(status=400, body=b"invalid_payload") as fake:
        with pytest.raises(slack.SlackPostFailed, match="400: invalid_payload"):
            slack.post_rollout_report(fake.url, conn=conn)


def test_the_report_reads_percentage_not_the_seeds_rollout_pct():
    report = {"phase": "canary_50pct", "percentage": 50, "enabled": True, "events_last_hour": 0,
              "counts_24h": {"a<b>&c": 2}}
    text = slack.format_rollout_report(report)
    assert "*Rollout:* 50%" in text
    assert "  • a&lt;b&gt;&amp;c: 2" in text  # mrkdwn control characters escaped
    assert "rollout_pct" not in text


def test_the_wrapper_report_matches_the_rpc(conn):
    client = uuid.uuid4()
    conn.execute("select public.emit_event('offer_made', null)")
    from pgcanary import events

    report = events.get_rollout_report(conn=conn)
    assert report["counts_24h"] == {"offer_made": 1}
    assert report["percentage"] == 10 and "rollout_pct" not in report
    assert str(client) not in json.dumps(report)
