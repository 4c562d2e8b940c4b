"""Every ```sql block of docs/runbook.md runs, in document order, against a throwaway database,
and its effect is checked, so the runbook cannot rot.

Each block carries its check in the Markdown source, invisible when rendered:

    <!-- setup: SQL -->            before a block: test-only state (e.g. backdating a step by 2 days,
                                   since a test cannot wait for a stability window)
    ```sql ... ```                 the block, run as the operator pastes it in the SQL Editor: as the
                                   database owner, all statements in one transaction
    <!-- expect: SQL -->           after a block: a boolean query that must be true afterwards
    <!-- expect-error: PC040 -->   after a block: the block must fail with this SQLSTATE

A block without an expectation fails the suite.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from pgcanary.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"

_TOKEN = re.compile(
    r"<!--\s*(?P<kind>setup|expect|expect-error):\s*(?P<body>.*?)-->"
    r"|^```sql[ \t]*\n(?P<sql>.*?)^```[ \t]*$"
    r"|^(?P<heading>#{1,6} [^\n]+)$",
    re.S | re.M,
)


@dataclass
class Block:
    heading: str
    line: int
    sql: str
    setup: list[str] = field(default_factory=list)
    expect: list[str] = field(default_factory=list)
    expect_error: str | None = None

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"L{self.line}-{slug[:50]}"


def parse(text: str) -> list[Block]:
    blocks: list[Block] = []
    heading = "(top)"
    pending_setup: list[str] = []
    for m in _TOKEN.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if m.group("heading"):
            heading = m.group("heading").lstrip("#").strip()
        elif m.group("sql") is not None:
            blocks.append(Block(heading, line, m.group("sql"), setup=pending_setup))
            pending_setup = []
        elif m.group("kind") == "setup":
            pending_setup.append(m.group("body").strip())
        elif not blocks:
            raise AssertionError(f"runbook line {line}: an expectation before any sql block")
        elif m.group("kind") == "expect":
            blocks[-1].expect.append(m.group("body").strip())
        else:
            blocks[-1].expect_error = m.group("body").strip()
    if pending_setup:
        raise AssertionError("runbook: a setup comment after the last sql block")
    return blocks


BLOCKS = parse(RUNBOOK.read_text())


def test_every_block_has_a_check():
    assert BLOCKS, "docs/runbook.md has no ```sql block"
    unchecked = [b.id for b in BLOCKS if not b.expect and not b.expect_error]
    assert unchecked == [], f"runbook blocks without <!-- expect: --> or <!-- expect-error: -->: {unchecked}"


def test_runbook_covers_every_phase_and_the_drill():
    headings = {b.heading for b in BLOCKS}
    text = " | ".join(sorted(headings))
    for needed in ("Fase 1", "Fase 2", "Fase 3", "Fase 4", "Phase A", "Phase B", "Phase C", "Phase D",
                   "Emergency rollback", "daily ritual", "The guard", "Drill"):
        assert any(needed in h for h in headings), f"no runbook block under a heading with {needed!r}: {text}"


def test_parser_reads_setups_and_expectations():
    sample = ("# T\n<!-- setup: select 1 -->\n```sql\nselect 2;\n```\n<!-- expect: true -->\n"
              "## U\n```sql\nselect x;\n```\n<!-- expect-error:\n  42703 -->\n")
    first, second = parse(sample)
    assert (first.heading, first.setup, first.sql, first.expect) == ("T", ["select 1"], "select 2;\n", ["true"])
    assert (second.heading, second.expect_error, second.setup) == ("U", "42703", [])


@pytest.fixture(scope="module")
def runbook_db(pg_server):
    """A database of its own, migrated from nothing, shared by the blocks in document order."""
    name = "runbook_" + uuid.uuid4().hex[:8]
    admin = pg_server.url(database="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = pg_server.url(database=name)
    migrate(url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database "{name}" with (force)')


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_runbook_block(runbook_db, block: Block):
    conn = runbook_db
    for sql in block.setup:
        with conn.transaction():
            conn.execute(sql)
    error = None
    # A block that manages its own transaction (BEGIN ... ROLLBACK, for psql) runs as written.
    own_tx = re.search(r"^\s*(BEGIN|COMMIT|ROLLBACK)\s*;", block.sql, re.I | re.M) is not None
    try:
        if own_tx:
            cur = conn.execute(block.sql)
            while cur.nextset():
                pass
        else:
            with conn.transaction():
                cur = conn.execute(block.sql)
                while cur.nextset():
                    pass
    except psycopg.Error as exc:
        error = exc
    if block.expect_error:
        assert error is not None, f"expected SQLSTATE {block.expect_error}, the block succeeded"
        assert error.sqlstate == block.expect_error, f"expected {block.expect_error}, got {error.sqlstate}: {error}"
    elif error is not None:
        raise AssertionError(f"runbook block at line {block.line} failed: {error.sqlstate} {error}") from error
    for check in block.expect:
        with conn.transaction():
            ok = conn.execute(f"select ({check})::boolean").fetchone()[0]
        assert ok is True, f"after the block at line {block.line}, this is not true: {check}"


def test_actor_line_holds_when_statements_run_one_by_one(fresh_database):
    """The runbook's actor line is a session SET: run statement by statement in autocommit (as
    psql does with a pasted block), every trail still names the operator. SET LOCAL would not."""
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("SET LOCAL pgcanary.actor = 'lost@empresa.com'")  # outside a transaction: a no-op
        conn.execute("SELECT kill_flag('campaigns', 'before the session SET')")
        assert conn.execute("select actor from feature_flag_audit order by audit_id desc limit 1").fetchone()[0] != "lost@empresa.com"
        conn.execute("SET pgcanary.actor = 'ana@empresa.com'")
        conn.execute("SELECT resume_flag('campaigns', 'incident over')")
        conn.execute("SELECT opt_out('7a7a7a7a-0000-4000-8000-00000000000a', 'whatsapp_keyword')")
        conn.execute("UPDATE rate_limit_rules SET max_hits = max_hits + 1")
        conn.execute("INSERT INTO incidents (severity, title, opened_by) VALUES ('P3', 'actor test', 'ana')")
        actors = conn.execute(
            """select (select actor from feature_flag_audit order by audit_id desc limit 1),
                      (select actor from opt_out_audit order by audit_id desc limit 1),
                      (select string_agg(distinct actor, ',') from safety_audit where table_name in ('rate_limit_rules', 'incidents'))"""
        ).fetchone()
    assert actors == ("ana@empresa.com", "ana@empresa.com", "ana@empresa.com")
