"""A fake Evolution API on 127.0.0.1: a real HTTP server that records every request and can
inject faults. Started by the tests (and the demo) in a thread of their own process.

Faults, drawn per request from `faults` (name -> probability):
    "429", "503"  refused before processing: NOT delivered
    "400"         refused as a bad request: NOT delivered
    "500", "502", "504"  processed, then an error answer: delivered (the worst case for us)
    "slow"        processed, the answer comes after `slow_seconds` (past the client's read timeout)
    "drop"        processed, the connection is closed without an answer
`script` lists answers to give first, in order; `down = True` answers 503 to everything (the breaker opens); `delivered` counts, per dedupe
key, the requests the provider processed: the tests assert it is never above one.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "test-key"
INSTANCE = "pgcanary-test"
DELIVERED_FAULTS = {"500", "502", "504", "slow", "drop"}


@dataclass
class Request:
    dedupe_key: str
    number: str
    text: str
    answer: str          # "201", a fault name, or "401"/"404"
    delivered: bool


class FakeProvider:
    def __init__(self, faults: dict[str, float] | None = None, *, seed: int = 7, slow_seconds: float = 1.0,
                 latency: float = 0.0):
        self.faults = dict(faults or {})
        self.slow_seconds = slow_seconds
        self.latency = latency        # every answer takes at least this long (a real provider does)
        self.down = False
        self.script: list[str] = []   # answers to give first, in order, before drawing faults
        self.requests: list[Request] = []
        self.delivered: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: bodies hold phone numbers
                pass

            def do_POST(self):
                provider._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-provider", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeProvider":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def answered(self, answer: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.answer == answer)

    def max_deliveries(self) -> int:
        with self._lock:
            return max(self.delivered.values(), default=0)

    def _draw(self) -> str:
        if self.script:
            return self.script.pop(0)
        if self.down:
            return "503"
        roll = self._rng.random()
        for name, p in self.faults.items():
            if roll < p:
                return name
            roll -= p
        return "201"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if h.headers.get("apikey") != API_KEY:
            return self._answer(h, 401, {"error": "unauthorized"})
        if h.path != f"/message/sendText/{INSTANCE}":
            return self._answer(h, 404, {"error": "not found"})
        data = json.loads(body or b"{}")
        key = h.headers.get("X-Dedupe-Key", "")
        with self._lock:
            answer = self._draw()
            delivered = answer == "201" or answer in DELIVERED_FAULTS
            self.requests.append(Request(key, str(data.get("number")), str(data.get("text")), answer, delivered))
            if delivered:
                self.delivered[key] += 1
        if self.latency:
            time.sleep(self.latency)
        if answer == "201":
            return self._answer(h, 201, {"key": {"remoteJid": f"{data.get('number')}@s.whatsapp.net", "fromMe": True,
                                                 "id": uuid.uuid4().hex.upper()}, "status": "PENDING"})
        if answer == "slow":
            time.sleep(self.slow_seconds)
            return self._answer(h, 201, {"key": {"id": uuid.uuid4().hex.upper()}, "status": "PENDING"})
        if answer == "drop":
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        return self._answer(h, int(answer), {"error": f"injected {answer}"})

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw)))
            h.end_headers()
            h.wfile.write(raw)
        except OSError:
            pass  # the client gave up (read timeout): that is the point of "slow"


if __name__ == "__main__":  # a standalone fake for manual runs: python tests/py/fake_provider.py
    with FakeProvider({"429": 0.05, "503": 0.05, "500": 0.02}) as fake:
        print(fake.url, flush=True)
        threading.Event().wait()
