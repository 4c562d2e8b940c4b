"""`pgcanary drill`: the incident playbook of seed 002 (prerequisite D2), end to end, against the
real database, with the evidence to attach to D2.

    1. Kill switch Julia: pausar_julia -> a send is blocked (assistant_paused) -> retomar_julia
    2. Kill switch campaigns: toggle_campanhas off -> a campaign is blocked -> on
    3. Rollback canary: 50% -> 10% (rollback_rollout) -> a client of bucket 10..49 is out, one below 10 stays in
    4. Bypass with bypass_reason: a bypassable block lets the send through with an outbound_bypass
       event carrying the reason; an empty reason is refused; opt-out is not bypassable

Every step runs through the same RPCs the runbook and the Slack tools use, inside one
transaction that is rolled back: production never sees Julia paused or the canary moved, and
yet each mechanism was exercised on the live schema, data and grants. `record=True` then
writes the outcome to prerequisite D2 (met, or failed with what failed) in its own transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import psycopg

from pgcanary import flags, governance, guardrails
from pgcanary.errors import PgCanaryError

DRILL_PHONE = "5500900000000"  # not a real line: the drill's sends never leave the transaction
REASON = "pgcanary drill (D2): rolled back"


@dataclass
class Step:
    name: str
    action: str
    expected: str
    observed: str = ""
    ok: bool = False


@dataclass
class DrillResult:
    database: str
    flag_key: str
    started_at: str
    steps: list[Step] = field(default_factory=list)
    recorded: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def evidence(self) -> str:
        """One paragraph for rollout_prerequisites.evidence."""
        passed = sum(s.ok for s in self.steps)
        parts = [f"{'OK' if s.ok else 'FAILED'} {s.name}: {s.observed}" for s in self.steps]
        return (f"pgcanary drill {self.started_at} on {self.database}: {passed}/{len(self.steps)} steps passed. "
                + " | ".join(parts))

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "flag_key": self.flag_key, "started_at": self.started_at,
                "ok": self.ok, "steps": [asdict(s) for s in self.steps], "recorded": self.recorded}


def _client(label: str) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"pgcanary-drill:{label}".encode()).hexdigest())


def _check(conn, client: uuid.UUID, method: str, **kwargs) -> dict[str, Any]:
    return guardrails.check_outbound_guardrails(client, DRILL_PHONE, method, conn=conn, **kwargs)


def _step(result: DrillResult, name: str, action: str, expected: str,
          body: Callable[[], tuple[bool, str]], conn: psycopg.Connection) -> None:
    step = Step(name, action, expected)
    result.steps.append(step)
    try:
        with conn.transaction():  # a savepoint: a failing step does not abort the others
            step.ok, step.observed = body()
    except (PgCanaryError, psycopg.Error) as exc:
        step.ok, step.observed = False, f"error {getattr(exc, 'sqlstate', '') or type(exc).__name__}: {str(exc).splitlines()[0]}"


def run_drill(conn: psycopg.Connection, flag_key: str = "guardrails_canary", *, record: bool = False) -> DrillResult:
    """Runs the playbook on `conn` in one transaction and rolls it back; with `record`, then
    writes the outcome to prerequisite D2 and commits that alone."""
    if not conn.autocommit:
        raise ValueError("run_drill needs an autocommit connection: it opens, and rolls back, its own transaction")
    database = conn.execute("select current_database()").fetchone()[0]
    result = DrillResult(database, flag_key, datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    with conn.transaction() as tx:
        _run_steps(conn, flag_key, result)
        raise psycopg.Rollback(tx)
    if record:
        with conn.transaction():
            result.recorded = governance.set_prerequisite(flag_key, "D2", "met" if result.ok else "failed",
                                                          result.evidence(), conn=conn)
    return result


def _run_steps(conn: psycopg.Connection, flag_key: str, result: DrillResult) -> None:
    client = _client("client")

    def julia() -> tuple[bool, str]:
        guardrails.pausar_julia(REASON, conn=conn)
        paused = _check(conn, client, "followup")
        guardrails.retomar_julia(REASON, conn=conn)
        resumed = _check(conn, client, "followup")
        ok = paused["block_reason"] == "assistant_paused" and resumed["block_reason"] != "assistant_paused"
        return ok, (f"paused -> followup blocked ({paused['block_reason']}); "
                    f"resumed -> followup {'allowed' if resumed['allowed'] else 'blocked (' + str(resumed['block_reason']) + ')'}")

    def campaigns() -> tuple[bool, str]:
        guardrails.toggle_campanhas("off", REASON, conn=conn)
        off = _check(conn, _client("campaign-off"), "campaign")
        guardrails.toggle_campanhas("on", REASON, conn=conn)
        on = _check(conn, _client("campaign-on"), "campaign")
        ok = off["block_reason"] == "campaigns_disabled" and on["block_reason"] != "campaigns_disabled"
        return ok, (f"off -> campaign blocked ({off['block_reason']}); "
                    f"on -> campaign {'allowed' if on['allowed'] else 'blocked (' + str(on['block_reason']) + ')'}")

    def rollback() -> tuple[bool, str]:
        status = flags.get_rollout_status(flag_key, conn=conn)
        notes = []
        if not status["enabled"]:
            flags.resume_flag(flag_key, REASON, conn=conn)
            notes.append("flag was off: resumed for the drill")
        if status["percentage"] > 50:
            flags.set_rollout_percentage(flag_key, 50, REASON, conn=conn)
            notes.append(f"set to 50% from {status['percentage']}% for the drill")
        elif status["percentage"] < 50:
            # Up only through the gate; the drill forces it (audited, rolled back with the drill).
            start, pct = status["percentage"], status["percentage"]
            while pct < 50:
                pct = governance.advance_rollout(flag_key, REASON, force=True, conn=conn)["to_percentage"]
            if pct != 50:
                flags.set_rollout_percentage(flag_key, 50, REASON, conn=conn)
            notes.append(f"advanced to 50% from {start}% for the drill (forced, rolled back)")
        leaving = staying = None
        for i in range(2000):
            e = flags.evaluate_flag(flag_key, _client(f"bucket-{i}"), conn=conn)
            if e["bucket"] is None:
                continue
            if leaving is None and 10 <= e["bucket"] < 50:
                leaving = (_client(f"bucket-{i}"), e["bucket"])
            if staying is None and e["bucket"] < 10:
                staying = (_client(f"bucket-{i}"), e["bucket"])
            if leaving and staying:
                break
        if not (leaving and staying):
            return False, "could not find drill clients in buckets 10..49 and 0..9 (flag has no percentage split?)"
        before = flags.is_enabled(flag_key, leaving[0], conn=conn)
        done = governance.rollback_rollout(flag_key, 10, REASON, conn=conn)
        out = flags.is_enabled(flag_key, leaving[0], conn=conn)
        kept = flags.is_enabled(flag_key, staying[0], conn=conn)
        ok = before and not out and kept and done["to_percentage"] == 10
        return ok, ("; ".join(notes + [""]) + f"50% -> 10%: bucket {leaving[1]} in before, "
                    f"{'out' if not out else 'STILL IN'} after; bucket {staying[1]} {'stays in' if kept else 'LEFT'}")

    def bypass() -> tuple[bool, str]:
        refused = "accepted"
        try:
            with conn.transaction():
                _check(conn, _client("bypass-empty"), "reply", bypass_reason="  ")
        except PgCanaryError as exc:
            refused = f"refused ({exc.sqlstate})"
        blocked = _check(conn, _client("bypass"), "reply")
        through = _check(conn, _client("bypass"), "reply", bypass_reason="pgcanary drill: médico pediu retorno")
        props = None
        if through.get("event_id"):
            row = conn.execute("select event_type, event_props from public.business_events where event_id = %s::uuid",
                               (through["event_id"],)).fetchone()
            props = row and {"event_type": row[0], "bypass_reason": (row[1] or {}).get("bypass_reason")}
        opted = _client("bypass-opted-out")
        guardrails.opt_out(opted, "pgcanary drill", conn=conn)
        opted_out = _check(conn, opted, "followup", bypass_reason="pgcanary drill: tentativa de furar opt-out")
        ok = (refused.startswith("refused") and not blocked["allowed"] and through["allowed"] and through["bypassed"]
              and props is not None and props["event_type"] == "outbound_bypass" and bool(props["bypass_reason"])
              and opted_out["block_reason"] == "opted_out")
        return ok, (f"reply without proof blocked ({blocked['block_reason']}); with bypass_reason -> "
                    f"{'allowed' if through['allowed'] else 'blocked'}, event {props['event_type'] if props else 'MISSING'}"
                    f" with bypass_reason {'recorded' if props and props['bypass_reason'] else 'MISSING'}; "
                    f"empty reason {refused}; opted-out client with a reason -> {opted_out['block_reason'] or 'ALLOWED'}")

    _step(result, "1. kill switch Julia", "pausar_julia / retomar_julia",
          "sends blocked with assistant_paused while paused, not after", julia, conn)
    _step(result, "2. kill switch campanhas", "toggle_campanhas off / on",
          "campaign sends blocked with campaigns_disabled while off, not after", campaigns, conn)
    _step(result, "3. rollback canary 50% -> 10%", f"rollback_rollout('{flag_key}', 10, ...)",
          "clients of buckets 10..49 leave, buckets 0..9 stay", rollback, conn)
    _step(result, "4. bypass com bypass_reason", "check_outbound_guardrails(..., bypass_reason => ...)",
          "a bypassable block passes with an audited outbound_bypass; no empty reason; opt-out never", bypass, conn)


def to_json(result: DrillResult) -> str:
    return json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str)
