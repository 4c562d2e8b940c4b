"""Dedupe is exact across the hour boundary (issue 15, point 5): two connections race across a
boundary we control.

The server runs under libfaketime with an offset read from a file, so the test moves the
database's clock to three seconds before an hour and lets it run across. The race: a caller
whose transaction began before the hour (its now() is 10:59:59) waits on the scope's lock while
a caller that began after it (11:00:00) queues the message under the 11h key. If the waiting
caller computed its window from its own now(), it would look at the 10h and 9h keys only and
queue a twin. The keys and the window come from one clock read after the lock."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from pgcanary.migrate import migrate
from pgcanary.throwaway import PG_BIN, ThrowawayPostgres

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


@pytest.fixture
def clocked_server():
    """A throwaway server whose clock is real time plus the offset in the returned file."""
    assert os.path.exists(LIBFAKETIME), "libfaketime is missing: make deps installs it"
    # Readable by the postgres user (pytest's tmp_path is not): the server runs as postgres.
    workdir = Path(tempfile.mkdtemp(prefix="pgcanary-clock-"))
    os.chmod(workdir, 0o755)
    offset = workdir / "faketime"
    offset.write_text("+0\n")
    os.chmod(offset, 0o666)
    # Only postgres gets the library, through a wrapper run after the switch to the postgres
    # user: libfaketime's shared memory must belong to the user that uses it.
    wrapper = workdir / "postgres"
    wrapper.write_text(f"#!/bin/sh\nexec env LD_PRELOAD={LIBFAKETIME} FAKETIME_TIMESTAMP_FILE={offset} "
                       f"FAKETIME_NO_CACHE=1 {PG_BIN}/postgres \"$@\"\n")
    os.chmod(wrapper, 0o755)
    server = ThrowawayPostgres(postgres=str(wrapper))
    try:
        url = server.url()
        migrate(url)
        yield url, offset
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def db_clock(conn) -> datetime:
    return conn.execute("select clock_timestamp()").fetchone()[0]


def wait_for_lock(watcher, pid: int) -> None:
    for _ in range(500):
        row = watcher.execute("select wait_event_type, wait_event from pg_stat_activity where pid = %s", (pid,)).fetchone()
        if row == ("Lock", "advisory"):
            return
        time.sleep(0.01)
    raise AssertionError("the second caller never waited on the scope's lock")


def test_a_caller_that_began_before_the_hour_sees_the_twin_queued_after_it(clocked_server):
    url, offset = clocked_server
    with psycopg.connect(url, autocommit=True) as watcher, psycopg.connect(url) as first, psycopg.connect(url) as late:
        # Three seconds before an hour that is comfortably ahead of the real clock.
        real = time.time()
        hour = math.ceil((real + 7200) / 3600) * 3600
        offset.write_text(f"+{int(hour - real) - 3}\n")
        boundary = datetime.fromtimestamp(hour, timezone.utc)
        before = db_clock(watcher)
        assert boundary.timestamp() - 4.5 < before.timestamp() < boundary.timestamp() - 1, before

        client = uuid.uuid4()
        call = "select pode_enviar_com_dedupe(cliente_id => %s, method => 'campaign', template_ref => 'vaga-1')"
        # `late` opens its transaction before the hour: its now() stays there.
        late_start = late.execute("select now()").fetchone()[0]
        assert late_start < boundary
        while db_clock(watcher) < boundary:
            time.sleep(0.05)
        time.sleep(0.2)
        # `first` queues the message after the hour, under the new hour's key, and holds the lock.
        queued = first.execute(call, (client,)).fetchone()[0]
        assert queued["pode_enviar"] is True
        late_pid = late.info.backend_pid
        answer = {}
        racer = threading.Thread(target=lambda: answer.setdefault("late", late.execute(call, (client,)).fetchone()[0]))
        racer.start()
        wait_for_lock(watcher, late_pid)
        first.commit()
        racer.join(10)
        assert not racer.is_alive()
        late.commit()

        assert answer["late"]["pode_enviar"] is False, answer["late"]
        assert answer["late"]["motivo"] == "duplicata"
        assert answer["late"]["duplicate_of"] == queued["message_id"]
        assert watcher.execute("select count(*) from outbound_messages where cliente_id = %s", (client,)).fetchone()[0] == 1
