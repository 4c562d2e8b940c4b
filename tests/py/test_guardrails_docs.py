"""The opt-out sync trigger of docs/guardrails.md, run as the docs write it (read from the file,
so the docs and this test cannot drift), against a client table like the user's."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import psycopg

DOC = Path(__file__).resolve().parents[2] / "docs" / "guardrails.md"


def _sync_block() -> str:
    section = DOC.read_text().split("### Syncing it from your own client table", 1)[1]
    return re.search(r"```sql\n(.*?)```", section, re.S).group(1)


def test_the_documented_sync_trigger_keeps_opt_outs_in_step(database_url):
    ids = [uuid.uuid4() for _ in range(3)]
    with psycopg.connect(database_url) as conn:  # one transaction, rolled back at the end
        conn.execute("create table public.clientes (id uuid primary key, nome text, opt_out boolean not null default false)")
        conn.execute("insert into public.clientes (id, nome, opt_out) values (%s, 'antes', true), (%s, 'b', false)",
                     (ids[0], ids[1]))
        conn.execute(_sync_block())  # trigger, and the backfill of the client who opted out before it

        def state(i):
            row = conn.execute("select opted_out, source from opt_outs where cliente_id = %s", (ids[i],)).fetchone()
            return tuple(row) if row else None

        assert state(0) == (True, "clientes_backfill")
        assert state(1) is None
        conn.execute("update public.clientes set opt_out = true where id = %s", (ids[1],))
        assert state(1) == (True, "clientes_sync")
        conn.execute("update public.clientes set nome = 'renamed' where id = %s", (ids[1],))  # no opt_out change
        conn.execute("update public.clientes set opt_out = false where id = %s", (ids[1],))
        assert state(1) == (False, "clientes_sync")
        conn.execute("insert into public.clientes (id, nome, opt_out) values (%s, 'novo', true)", (ids[2],))
        assert state(2) == (True, "clientes_sync")
        blocked = conn.execute("select check_outbound_guardrails(%s, '5511977776666', 'followup')", (ids[2],)).fetchone()[0]
        assert blocked["block_reason"] == "opted_out"
        audit = conn.execute("select operation, new_opted_out, source from opt_out_audit where cliente_id = %s order by audit_id",
                             (ids[1],)).fetchall()
        assert audit == [("INSERT", True, "clientes_sync"), ("UPDATE", False, "clientes_sync")]
        conn.rollback()
