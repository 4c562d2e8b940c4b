"""`make demo`: an embedded throwaway Postgres, migrated, then the product's main story.

Every decision shown comes from the RPCs; the demo only drives them and prints what they say.
Each capability adds one step function to STEPS.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import psycopg
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pgcanary import db, events, flags, governance, guardrails, health, slack
from pgcanary.errors import RolloutNoGo
from pgcanary.migrate import migrate
from pgcanary.throwaway import ThrowawayPostgres

CLIENTS = 10_000
FLAG = "business_events_canary"


def _cohort(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "select id::text from demo_clients where public.is_enabled(%s::text, id)", (FLAG,)).fetchall()
    return {r[0] for r in rows}


def step_canary(conn: psycopg.Connection, console: Console) -> None:
    console.rule("[bold]1. Canary cohorts on 10,000 synthetic clients")
    conn.execute("create temp table demo_clients as "
                 "select md5('demo-client-' || g)::uuid as id from generate_series(1, %s) g", (CLIENTS,))
    table = Table("percentage", "phase", "clients in", "expected", "kept from previous phase")
    previous: set[str] = set()
    for pct in (2, 10, 50, 100):
        status = _move_to(conn, pct, f"demo: phase {pct}%")
        cohort = _cohort(conn)
        kept = f"{len(previous & cohort)}/{len(previous)}" if previous else "-"
        table.add_row(f"{pct}%", status["phase"], str(len(cohort)), f"~{CLIENTS * pct // 100}", kept)
        assert previous <= cohort, "a client left the cohort when the percentage went up"
        previous = cohort
    console.print(table)
    console.print("Raising the percentage only adds clients: everyone in at 2% is still in at 10%, 50%, 100%.")


def _move_to(conn: psycopg.Connection, pct: int, reason: str) -> dict:
    """The planned canary goes down with set_rollout_percentage and up only through its gate:
    the demo has no days of stable metrics, so it forces each step, and the audit trail says so."""
    status = flags.get_rollout_status(FLAG, conn=conn)
    if pct <= status["percentage"]:
        return flags.set_rollout_percentage(FLAG, pct, reason, conn=conn)
    while status["percentage"] < pct:
        status = governance.advance_rollout(FLAG, reason, force=True, conn=conn)["status"]
    return status


def _brief(value) -> str:
    if isinstance(value, dict):
        return (f"enabled={value.get('enabled')} pct={value.get('percentage', value.get('canary_pct'))} "
                f"force_on={len(value.get('force_on', []))}")
    return str(value)


def step_allowlist_and_kill(conn: psycopg.Connection, console: Console) -> None:
    console.rule("[bold]2. Allowlist, kill switch, audit")
    flags.set_rollout_percentage(FLAG, 2, "demo: back to 2%", conn=conn)
    outsider = conn.execute(
        "select id from demo_clients where not public.is_enabled(%s::text, id) limit 1", (FLAG,)).fetchone()[0]
    before = flags.evaluate_flag(FLAG, outsider, conn=conn)
    flags.add_to_allowlist(outsider, FLAG, conn=conn)
    after = flags.evaluate_flag(FLAG, outsider, conn=conn)
    table = Table("moment", "enabled", "reason", "bucket")
    table.add_row("before allowlist", str(before["enabled"]), before["reason"], str(before["bucket"]))
    table.add_row("after add_to_allowlist", str(after["enabled"]), after["reason"], str(after["bucket"]))

    flags.kill_flag(FLAG, "demo: kill switch drill", conn=conn)
    killed = flags.evaluate_flag(FLAG, outsider, conn=conn)
    table.add_row("next call after kill_flag", str(killed["enabled"]), killed["reason"], "-")
    in_after_kill = len(_cohort(conn))
    flags.resume_flag(FLAG, "demo: drill over", conn=conn)
    resumed = flags.get_rollout_status(FLAG, conn=conn)
    table.add_row("after resume_flag", str(resumed["enabled"]), f"{resumed['percentage']}% kept", "-")
    console.print(table)
    console.print(f"Clients in the cohort right after the kill: {in_after_kill} (no cache to wait for).")

    # The seed's emergency rollback, verbatim, as an operator pastes it in the SQL Editor.
    conn.execute("UPDATE feature_flags SET value = 'false' WHERE flag_key = 'business_events_enabled'")
    off = flags.should_emit_event(outsider, "demo_event", conn=conn)
    conn.execute("UPDATE feature_flags SET value = 'true' WHERE flag_key = 'business_events_enabled'")
    on = flags.should_emit_event(outsider, "demo_event", conn=conn)
    console.print(f"Seed 8.4 emergency UPDATE: should_emit_event -> {off}; re-enabled -> {on}.")

    trail = Table("flag", "actor", "reason", "new value", title="feature_flag_audit (latest 8)")
    for row in flags.flag_audit_trail(None, 8, conn=conn):
        trail.add_row(row[1], row[5], row[6] or "", _brief(row[4]))
    console.print(trail)


def step_events(conn: psycopg.Connection, console: Console) -> None:
    console.rule("[bold]3. Business events follow the rollout (seed 8.2-8.3)")
    clients = [r[0] for r in conn.execute("select id::text from demo_clients order by id")]
    # A table of the app with the generic trigger: its events are always on (seed 8.2).
    conn.execute("create temp table demo_opt_outs (cliente_id uuid, telefone text)")
    conn.execute("create trigger opt_out_event after insert on demo_opt_outs for each row execute function "
                 "pgcanary_private.emit_event_trigger('opt_out', 'cliente_id=cliente_id', 'props=telefone')")
    table = Table("phase", "%", "emitted (backend)", "expected", "by trigger", "last hour")
    emitted_before = 0
    for pct in (2, 10, 50, 100):
        _move_to(conn, pct, f"demo: events at {pct}%")
        # One message per synthetic client, in one batch call; the phone is scrubbed on write.
        ids = events.emit_events([{"event_type": "outbound_sent", "cliente_id": cid,
                                   "event_props": {"method": "campaign", "channel": "whatsapp",
                                                   "telefone": f"+55 11 9{n:04d}-{n % 9999:04d}"}}
                                  for n, cid in enumerate(clients)], conn=conn)
        conn.execute("insert into demo_opt_outs select id, '+55 21 98888-7777' from demo_clients limit 3")
        status = flags.get_rollout_status(FLAG, conn=conn)
        emitted = sum(1 for i in ids if i)
        table.add_row(status["phase"], f"{pct}%", str(emitted), f"~{CLIENTS * pct // 100}",
                      str(status["events_by_type_24h"].get("opt_out", 0)), str(status["events_last_hour"]))
        assert emitted >= emitted_before, "raising the percentage never emits for fewer clients"
        emitted_before = emitted
    console.print(table)
    sample = conn.execute("select event_props from business_events where event_type = 'outbound_sent' limit 1").fetchone()[0]
    console.print(f"Stored props of one event: {sample} (the phone is kept as its first 4 digits).")
    console.print("Seed 8.3 rollout report, as posted to Slack (slack.post_rollout_report):")
    console.print(slack.format_rollout_report(events.get_rollout_report(conn=conn)), markup=False, highlight=False)


def step_guardrails(conn: psycopg.Connection, console: Console) -> None:
    console.rule("[bold]4. The sovereign outbound guardrail (seed 002)")
    guardrails.retomar_julia("demo: start running", conn=conn)
    clients = [r[0] for r in conn.execute("select id from demo_clients order by id limit 3")]
    burst_client, opted_client, other_client = clients
    phone = "+55 11 98765-4321"

    # A burst to one phone: the rate limit (20 an hour) admits exactly 20.
    outcomes = [guardrails.check_outbound_guardrails(burst_client, phone, "followup", conn=conn) for _ in range(30)]
    allowed = sum(r["allowed"] for r in outcomes)
    first_block = next(i for i, r in enumerate(outcomes, 1) if not r["allowed"])
    bypass = guardrails.check_outbound_guardrails(burst_client, phone, "followup",
                                                  bypass_reason="demo: medico pediu retorno", conn=conn)
    table = Table("case", "allowed", "block_reason", "bypassed")
    table.add_row("30 followups to one phone", f"{allowed} of 30", f"{outcomes[-1]['block_reason']} from send {first_block}", "-")
    table.add_row("31st with a bypass_reason", str(bypass["allowed"]), str(bypass["block_reason"]), str(bypass["bypassed"]))

    # Opt-out is never bypassable.
    guardrails.opt_out(opted_client, "demo: palavra-chave SAIR", conn=conn)
    opted = guardrails.check_outbound_guardrails(opted_client, "+55 21 91234-5678", "followup",
                                                 bypass_reason="demo: tentar mesmo assim", conn=conn)
    table.add_row("opted-out client, with a bypass", str(opted["allowed"]), str(opted["block_reason"]), str(opted["bypassed"]))

    # The kill switch stops everything, bypass or not, on the next call.
    guardrails.pausar_julia("demo: kill switch drill", conn=conn)
    paused = [guardrails.check_outbound_guardrails(other_client, f"+55 31 9{n}000-0000", method, conn=conn,
                                                   **({"conversation_id": other_client, "inbound_interaction_id": other_client}
                                                      if method == "reply" else {}))
              for n, method in enumerate(("reply", "followup", "campaign"))]
    paused.append(guardrails.check_outbound_guardrails(other_client, "+55 31 93000-0000", "followup",
                                                       bypass_reason="demo: urgente", conn=conn))
    table.add_row("pausar_julia: reply, followup, campaign, bypass", f"{sum(r['allowed'] for r in paused)} of 4",
                  ", ".join(sorted({r["block_reason"] for r in paused})), "-")
    guardrails.retomar_julia("demo: drill over", conn=conn)
    resumed = guardrails.check_outbound_guardrails(other_client, "+55 31 93000-0000", "followup", conn=conn)
    table.add_row("after retomar_julia", str(resumed["allowed"]), str(resumed["block_reason"]), str(resumed["bypassed"]))
    console.print(table)
    assert allowed == 20 and first_block == 21 and bypass["bypassed"]
    assert opted["block_reason"] == "opted_out" and not any(r["allowed"] for r in paused) and resumed["allowed"]

    # The seed's Q2, verbatim, as the daily ritual runs it in the SQL Editor.
    q2 = Table("event_type", "razao", "canal", "metodo", "total", title="Q2: guardrail blocked/bypass por razao (24h)")
    for row in conn.execute("""
        SELECT
            event_type,
            event_props->>'block_reason' as razao,
            event_props->>'channel' as canal,
            event_props->>'method' as metodo,
            COUNT(*) as total
        FROM business_events
        WHERE event_type IN ('outbound_blocked', 'outbound_bypass')
          AND ts >= NOW() - INTERVAL '24 hours'
        GROUP BY 1, 2, 3, 4
        ORDER BY total DESC"""):
        q2.add_row(*(str(v) for v in row))
    console.print(q2)


def _fake_provider_class():
    """The tests' fake Evolution API (tests/py/fake_provider.py), loaded from the checkout."""
    import importlib.util
    import sys

    from pgcanary.migrate import ROOT

    spec = importlib.util.spec_from_file_location("fake_provider", ROOT / "tests" / "py" / "fake_provider.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def step_outbox(conn: psycopg.Connection, console: Console) -> None:
    console.rule("[bold]5. Outbox: a campaign to 1,000 clients through a flaky provider")
    import threading

    from pgcanary import circuit, outbox
    from pgcanary.worker import Worker, WorkerSettings

    fp = _fake_provider_class()
    circuit.circuit_configure("whatsapp", 5, 2, conn=conn)  # 2 s open period, for the demo's sake
    enqueue = ("select count(*) filter (where (r ->> 'pode_enviar')::boolean) from ("
               " select public.pode_enviar_com_dedupe(md5('demo-client-' || g)::uuid, 'campaign', 'black-friday',"
               "   jsonb_build_object('number', '5511' || lpad(g::text, 9, '0'), 'text', 'Oferta ' || g)) r"
               " from generate_series(1, 1000) g) x")
    first = conn.execute(enqueue).fetchone()[0]
    again = conn.execute(enqueue).fetchone()[0]
    console.print(f"Enqueued the campaign: {first} accepted; the same campaign again a moment later: {again} accepted "
                  f"({1000 - again} refused as duplicata).")

    fake = fp.FakeProvider({"429": 0.03, "503": 0.03, "500": 0.01, "drop": 0.005}, seed=11).start()
    states: list[str] = []
    done = threading.Event()

    def outage_and_watch():
        # After 300 sends the provider goes down for 1.5 s; meanwhile the breaker is watched.
        with psycopg.connect(conn.info.dsn, autocommit=True) as watch:
            outage_over = None
            while not done.is_set():
                state = circuit.circuit_status("whatsapp", conn=watch)["state"]
                if not states or states[-1] != state:
                    states.append(state)
                sent = watch.execute("select count(*) from outbound_messages where status = 'sent'").fetchone()[0]
                if outage_over is None and sent >= 300:
                    fake.down, outage_over = True, time.monotonic() + 1.5
                if outage_over and fake.down and time.monotonic() > outage_over:
                    fake.down = False
                done.wait(0.02)

    watcher = threading.Thread(target=outage_and_watch, daemon=True)
    watcher.start()
    settings = WorkerSettings(database_url=conn.info.dsn, evolution_url=fake.url, evolution_key=fp.API_KEY,
                              evolution_instance=fp.INSTANCE, worker_id="demo-worker", batch_size=50,
                              lease_seconds=30, poll_interval=0.1, max_idle=0.5, connect_timeout=0.5,
                              read_timeout=0.5, backoff_initial=0.02, backoff_max=0.1)
    started = time.monotonic()
    stats = Worker(settings).run()
    done.set()
    watcher.join()
    fake.stop()

    metrics = outbox.outbox_metrics(conn=conn)
    status = circuit.circuit_status("whatsapp", conn=conn)
    table = Table("what", "value", title=f"worker run ({time.monotonic() - started:.1f}s)")
    table.add_row("provider requests (with retries)", str(len(fake.requests)))
    table.add_row("answers 429 / 503 (retried) / 500 / dropped", " / ".join(
        str(fake.answered(a)) for a in ("429", "503", "500", "drop")))
    table.add_row("sent / failed / unknown", f"{stats.get('sent', 0)} / {stats.get('failed', 0)} / {stats.get('unknown', 0)}")
    table.add_row("breaker states seen", " -> ".join(states))
    table.add_row("breaker opened (times)", str(status["times_opened"]))
    table.add_row("batch released while open", str(stats.get("released", 0)))
    table.add_row("most deliveries of one message", str(fake.max_deliveries()))
    table.add_row("outbox_metrics.duplicates_detected", str(metrics["duplicates_detected"]))
    console.print(table)
    assert fake.max_deliveries() <= 1, "a message was delivered twice"
    unknown = outbox.outbox_unknown(1, conn=conn)
    if unknown:
        resolved = outbox.outbox_resolve(unknown[0][0], "failed", "demo: not in the provider's history", conn=conn)
        console.print(f"{metrics['unknown']} outcomes are unknown (500 or dropped after the request left): held for "
                      f"reconciliation, never resent. An operator resolved one as {resolved['status']} (audited).")
    console.print("Retries only where the provider surely did not process the request (429, 503, connect errors); "
                  "the failures of the outage opened the shared breaker, its single probe closed it again.")


def _gate_table(gate: dict, title: str) -> Table:
    table = Table("check", "name", "status", "why", title=title)
    for r in gate["reasons"]:
        status = "[green]OK[/]" if r["status"] == "OK" else "[bold red]FAIL[/]"
        table.add_row(r["check"], r["name"], status, r["message"])
    return table


def step_governance(conn: psycopg.Connection, console: Console) -> None:
    console.rule("[bold]6. Governance: GO / NO-GO gates, the guard, the daily report (seed 002)")
    flag = "guardrails_canary"
    gate = governance.rollout_gate(flag, conn=conn)
    console.print(_gate_table(gate, f"rollout_gate('{flag}') at phase A: {gate['verdict']} for {gate['next']['step']}"
                                    f" ({gate['next']['percentage']}%)"))
    try:
        governance.advance_rollout(flag, "demo: straight to B", conn=conn)
    except RolloutNoGo as exc:
        console.print(f"advance_rollout refused ([bold]{exc.sqlstate}[/]): {exc.message}", highlight=False)

    console.print("Closing the gaps with evidence, and a simulated clock: each step's start is moved back "
                  "by its window (the demo cannot wait 24 h).")
    governance.set_prerequisite(flag, "B1", "met", "toggle_campanhas on/off/status tested (demo)", conn=conn)
    governance.set_prerequisite(flag, "B2", "met", "outbox retries 429/503 with backoff (demo)", conn=conn)
    conn.execute("update rollout_history set started_at = started_at - interval '24 hours' where flag_key = %s", (flag,))
    gate = governance.rollout_gate(flag, conn=conn)
    done = governance.advance_rollout(flag, "demo: B1, B2 met, 24 h stable at 10%", conn=conn)
    console.print(f"A -> B: gate {gate['verdict']}, advanced {done['from_percentage']}% -> {done['to_percentage']}%.")
    governance.set_prerequisite(flag, "C1", "met", "outbound_messages dedupe (demo)", conn=conn)
    conn.execute("update rollout_history set started_at = started_at - interval '48 hours' where flag_key = %s", (flag,))
    done = governance.advance_rollout(flag, "demo: C1 met, 48 h stable at 25%", conn=conn)
    console.print(f"B -> C: advanced {done['from_percentage']}% -> {done['to_percentage']}%.")

    console.print("Injecting a leak: a client opts out, then a message to them is recorded as sent.")
    leaked = conn.execute("select id from demo_clients order by id desc limit 1").fetchone()[0]
    guardrails.opt_out(leaked, "whatsapp_keyword", conn=conn)
    conn.execute("select pgcanary_private.record_event('outbound_sent', %s::uuid, null, "
                 "'{\"method\": \"campaign\", \"channel\": \"whatsapp\"}', 'demo')", (leaked,))
    summary = governance.guard_tick(conn=conn)
    again = governance.guard_tick(conn=conn)
    status = flags.get_rollout_status(flag, conn=conn)
    paused = conn.execute("select value from feature_flags where flag_key = 'pausar_julia'").fetchone()[0]
    console.print(f"guard_tick: {summary['action']} (outbound_to_opted_out = {summary['outbound_to_opted_out']}); "
                  f"{flag} now {status['percentage']}%, pausar_julia = {paused}, P0 incident #{summary['incident_id']}; "
                  f"a second tick: {again['action']}.")
    console.print("The guard's Slack alert, queued in alert_outbox with the incident (the scheduler posts it):")
    alert = conn.execute("select text from alert_outbox where alert_id = %s", (summary["alert_id"],)).fetchone()[0]
    console.print(alert, markup=False, highlight=False)
    gate = governance.rollout_gate(flag, conn=conn)
    console.print(f"Every gate is now {gate['verdict']}: " + "; ".join(gate["blocking"][:2]), highlight=False)

    health.refresh_health_rollup(conn=conn)
    report = health.daily_health(conn=conn)
    console.print("The daily report, as the scheduler posts it to Slack:")
    console.print(health.format_daily_health(report), markup=False, highlight=False)


STEPS: list[Callable[[psycopg.Connection, Console], None]] = [step_canary, step_allowlist_and_kill, step_events,
                                                              step_guardrails, step_outbox, step_governance]


def run(console: Console | None = None) -> None:
    console = console or Console()
    started = time.monotonic()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("starting a throwaway Postgres 15", total=None)
        server = ThrowawayPostgres()
        progress.update(task, description="migrating (db/, functions/, policies/)")
        url = server.url()
        migrate(url)
    try:
        os.environ.setdefault("PGCANARY_ACTOR", "demo")
        with psycopg.connect(url, autocommit=True, **db.connect_kwargs()) as conn:
            for step in STEPS:
                step(conn, console)
    finally:
        server.stop()
    console.rule(f"[green]demo done in {time.monotonic() - started:.1f}s; the throwaway Postgres is gone")
