"""`pgcanary` command line: operators' commands print a readable table and exit non-zero on error."""

from __future__ import annotations

import json
import os
from typing import Optional

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from pgcanary import db, flags, governance, outbox
from pgcanary.errors import PgCanaryError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Canary rollouts and outbound guardrails inside Postgres.")
console = Console()
err = Console(stderr=True)


_state = {"verbose": False}


@app.callback()
def main(database_url: Optional[str] = typer.Option(None, "--database-url", envvar="DATABASE_URL",
                                                    help="Postgres URL (default: $DATABASE_URL)."),
         verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the whole error (detail, context).")):
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    _state["verbose"] = verbose


def _fail(exc: BaseException) -> None:
    """One line (and the hint) for an operator at 3 a.m.; --verbose shows the rest."""
    if isinstance(exc, psycopg.OperationalError) and not getattr(exc, "sqlstate", None):
        first = (str(exc).strip().splitlines() or ["connection failed"])[0]
        err.print(f"[bold red]error:[/] cannot connect to the database: {first}", soft_wrap=True)
        if not _state["verbose"]:
            err.print("  hint: check DATABASE_URL (host, port, database, password); --verbose shows more")
    elif isinstance(exc, PgCanaryError):
        err.print(f"[bold red]error[/] ({exc.sqlstate}): {exc.message}", soft_wrap=True)
        if exc.hint:
            err.print(f"  hint: {exc.hint}", soft_wrap=True)
        if exc.detail and _state["verbose"]:
            err.print(f"  detail: {exc.detail}", soft_wrap=True)
    else:
        err.print(f"[bold red]error:[/] {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}", soft_wrap=True)
    if _state["verbose"]:
        import traceback

        err.print("".join(traceback.format_exception(exc)), soft_wrap=True, markup=False, highlight=False)
    raise typer.Exit(1)


def _connect() -> psycopg.Connection:
    """One autocommit connection per command (each RPC commits), failing within seconds: a
    pool would retry a bad URL in the background and answer only after its timeout."""
    return psycopg.connect(db.database_url(), autocommit=True,
                           connect_timeout=int(os.environ.get("PGCANARY_CONNECT_TIMEOUT", "3")),
                           **db.connect_kwargs())


def _call(fn, *args, **kwargs):
    try:
        with _connect() as conn:
            return fn(*args, conn=conn, **kwargs)
    except (PgCanaryError, psycopg.Error, RuntimeError, ValueError) as exc:
        _fail(exc)


def _cell(value) -> str:
    return json.dumps(value, default=str) if isinstance(value, (dict, list)) else ("" if value is None else str(value))


def _show(title: str, data: dict) -> None:
    table = Table(title=title, show_header=False)
    for key, value in data.items():
        table.add_row(str(key), _cell(value))
    console.print(table)


def _emit(data, as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str))
    elif isinstance(data, dict):
        _show(title, data)
    else:
        console.print(f"{title}: {data}")


def _run(fn, *args, title: str, as_json: bool = False, **kwargs):
    result = _call(fn, *args, **kwargs)
    _emit(result, as_json, title)
    return result


JSON = typer.Option(False, "--json", help="Print JSON (for scripts) instead of a table.")


@app.command()
def migrate(database_url: Optional[str] = typer.Option(None, "--database-url", envvar="DATABASE_URL")):
    """Install or upgrade: db/ migrations, then functions/ and policies/, in one transaction."""
    from pgcanary.migrate import migrate as run_migrate

    try:
        applied, code = run_migrate(db.database_url(database_url))
    except psycopg.Error as exc:  # refused: nothing was changed; say what was found and what to do
        diag = exc.diag
        err.print(f"[bold red]install refused, nothing changed[/] ({diag.sqlstate or 'no SQLSTATE'}): "
                  f"{diag.message_primary or exc}")
        for label, text in (("detail", diag.message_detail), ("hint", diag.message_hint),
                            ("where", "; ".join(getattr(exc, "__notes__", [])))):
            if text:
                err.print(f"  {label}: {text}")
        raise typer.Exit(1)
    except Exception as exc:
        _fail(exc)
    console.print(f"migrations applied: {', '.join(applied) or 'none pending'}")
    console.print(f"functions and policies re-applied: {len(code)} files")


@app.command()
def bundle():
    """Print the whole install as one SQL script (for psql -1, supabase/migrations/ or the SQL Editor)."""
    from pgcanary.migrate import bundle as make_bundle

    typer.echo(make_bundle(), nl=False)


@app.command()
def status(flag: str = typer.Argument("business_events_canary"), as_json: bool = JSON):
    """Rollout status of a flag."""
    _run(flags.get_rollout_status, flag, title=f"rollout status: {flag}", as_json=as_json)


@app.command("set-percentage")
def set_percentage(flag: str, percentage: int, reason: str = typer.Option(..., "--reason", "-r")):
    """Set a canary flag's percentage (audited). A planned flag only goes down here; up is `advance`."""
    _run(flags.set_rollout_percentage, flag, percentage, reason, title=f"{flag} now")


@app.command()
def allow(flag: str, cliente_id: str):
    """Add a client to a flag's allowlist (force_on)."""
    _run(flags.add_to_allowlist, cliente_id, flag, title="added")


@app.command()
def disallow(flag: str, cliente_id: str):
    """Remove a client from a flag's allowlist."""
    _run(flags.remove_from_allowlist, cliente_id, flag, title="removed")


@app.command()
def kill(flag: str, reason: str = typer.Option(..., "--reason", "-r")):
    """Kill switch: the flag goes to its safe state on the next call (off; paused for pausar_julia)."""
    _run(flags.kill_flag, flag, reason, title=f"{flag} killed")


@app.command()
def resume(flag: str, reason: str = typer.Option(..., "--reason", "-r")):
    """Undo kill: the flag leaves its safe state (on again at its percentage; pausar_julia un-pauses)."""
    _run(flags.resume_flag, flag, reason, title=f"{flag} resumed")


@app.command()
def audit(flag: Optional[str] = typer.Argument(None), limit: int = typer.Option(20, "--limit"), as_json: bool = JSON):
    """The latest audited changes of a flag (or of all flags)."""
    rows = _call(flags.flag_audit_trail, flag, limit)
    cols = ("audit_id", "flag", "op", "old", "new", "actor", "reason", "when")
    if as_json:
        typer.echo(json.dumps([dict(zip(cols, r)) for r in rows], default=str))
        return
    table = Table(title="feature_flag_audit")
    for col in ("when", "flag", "op", "actor", "reason", "old", "new"):
        table.add_column(col)
    for r in rows:
        table.add_row(r[7].strftime("%Y-%m-%d %H:%M:%S"), r[1], r[2], r[5], r[6] or "",
                      json.dumps(r[3]), json.dumps(r[4]))
    console.print(table)


# -- the rollout workflow: every step through the gate (docs/operator.md) ---------------------------
@app.command()
def gate(flag: str, as_json: bool = JSON):
    """GO / NO-GO for the flag's next step, with every reason."""
    g = _call(governance.rollout_gate, flag)
    if as_json:
        typer.echo(json.dumps(g, default=str))
        return
    verdict = g.get("verdict")
    color = "green" if verdict == "GO" else "bold red"
    cur, nxt = g.get("current") or {}, g.get("next") or {}
    console.print(f"[{color}]{verdict}[/] {flag}: step {cur.get('step')} ({cur.get('percentage')}%)"
                  f" -> {nxt.get('step') if nxt else 'none'} ({nxt.get('percentage') if nxt else '-'}%)")
    for r in g.get("reasons") or []:
        mark = "[green]OK[/]  " if r.get("status") == "OK" else "[red]FAIL[/]"
        console.print(f"  {mark} {r.get('message') or r.get('name')}", soft_wrap=True)
    if verdict != "GO":
        raise typer.Exit(3)  # NO-GO: a script can stop here


@app.command()
def advance(flag: str, reason: str = typer.Option(..., "--reason", "-r"),
            force: bool = typer.Option(False, "--force", help="Past a NO-GO (audited as forced; needs --reason)."),
            as_json: bool = JSON):
    """Move a planned flag to its next step if the gate says GO (NO-GO refuses unless --force)."""
    _run(governance.advance_rollout, flag, reason, force, title=f"{flag} advanced", as_json=as_json)


@app.command()
def rollback(flag: str, percentage: int, reason: str = typer.Option(..., "--reason", "-r"), as_json: bool = JSON):
    """Emergency rollback of a planned flag to a lower percentage (no gate), audited."""
    _run(governance.rollback_rollout, flag, percentage, reason, title=f"{flag} rolled back", as_json=as_json)


@app.command("list")
def list_flags(as_json: bool = JSON):
    """Every flag: state, safe state, percentage, and for planned flags the step and the gate."""
    rows = _call(governance.flag_overview)
    cols = ("flag_key", "enabled", "in_safe_state", "percentage", "step", "verdict", "updated_at", "updated_by")
    data = [dict(zip(cols, r)) for r in rows]
    if as_json:
        typer.echo(json.dumps(data, default=str))
        return
    table = Table(*cols, title="feature flags")
    for d in data:
        verdict = d["verdict"] or ""
        table.add_row(*(_cell(d[c]) for c in cols[:5]),
                      f"[green]{verdict}[/]" if verdict == "GO" else f"[red]{verdict}[/]" if verdict else "",
                      _cell(d["updated_at"])[:19], _cell(d["updated_by"]))
    console.print(table)


@app.command()
def health(as_json: bool = JSON):
    """The daily panel (SLOs, gates, outbox): OK or ALERT with the failing lines."""
    from pgcanary import health as health_rpc

    report = _call(health_rpc.daily_health)
    if as_json:
        typer.echo(json.dumps(report, default=str))
    else:
        console.print(health_rpc.format_daily_health(report), soft_wrap=True)
    if report.get("status") not in (None, "OK"):
        raise typer.Exit(2)  # ALERT: scripts and cron can act on it


@app.command("outbox")
def outbox_cmd(limit: int = typer.Option(20, "--limit", help="Unknown outcomes listed."), as_json: bool = JSON):
    """The queue by status (held and cancelled too) and the unknown outcomes to reconcile."""
    metrics = _call(outbox.outbox_metrics)
    unknown = _call(outbox.outbox_unknown, limit)
    cols = ("id", "dedupe_key", "cliente_id", "method", "template_ref", "attempts", "lease_owner", "error",
            "created_at", "updated_at")
    if as_json:
        typer.echo(json.dumps({"metrics": metrics, "unknown": [dict(zip(cols, r)) for r in unknown]}, default=str))
        return
    _show("outbox", metrics.get("depth", {}) | {k: v for k, v in metrics.items() if k != "depth"})
    table = Table("id", "method", "attempts", "worker", "error", "since", title="unknown outcome: reconcile each")
    for r in unknown:
        table.add_row(str(r[0]), r[3], str(r[5]), r[6] or "", r[7] or "", r[9].strftime("%Y-%m-%d %H:%M:%S"))
    console.print(table)
    if unknown:
        console.print("pgcanary reconcile ID sent|failed|requeue --reason '...'  (check the provider first)")


@app.command()
def reconcile(message_id: str, resolution: str = typer.Argument(..., help="sent, failed or requeue"),
              reason: str = typer.Option(..., "--reason", "-r"),
              provider_message_id: Optional[str] = typer.Option(None, "--provider-message-id"),
              as_json: bool = JSON):
    """Resolve an unknown outcome (audited): sent, failed, or requeue (refused if it would repeat one)."""
    _run(outbox.outbox_resolve, message_id, resolution, reason, provider_message_id,
         title="reconciled", as_json=as_json)


@app.command()
def drill(flag: str = typer.Option("guardrails_canary", "--flag", help="The canary the rollback step moves."),
          record: bool = typer.Option(False, "--record", help="Write the outcome to prerequisite D2 of the flag."),
          as_json: bool = typer.Option(False, "--json", help="Print the evidence as JSON.")):
    """Run the incident playbook (seed 002, D2) in a rolled-back transaction and print the evidence."""
    from pgcanary.drill import run_drill, to_json

    try:
        with _connect() as conn:
            result = run_drill(conn, flag, record=record)
    except (PgCanaryError, psycopg.Error, RuntimeError, ValueError) as exc:
        _fail(exc)
    if as_json:
        console.print_json(to_json(result))
    else:
        table = Table("step", "action", "observed", "ok", title=f"playbook drill on {result.database} ({result.started_at})")
        for s in result.steps:
            table.add_row(s.name, s.action, s.observed, "[green]OK[/]" if s.ok else "[bold red]FAILED[/]")
        console.print(table)
        console.print("Nothing was changed: every step ran in one transaction, rolled back.")
        console.print("[bold]Evidence for D2:[/]")
        console.print(result.evidence(), soft_wrap=True)
        if result.recorded:
            console.print(f"Recorded: {flag} D2 = {result.recorded['status']} (set_by {result.recorded['set_by']}).")
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def scheduler(config: Optional[str] = typer.Option(None, "--config", envvar="PGCANARY_SCHEDULE",
                                                   help="Schedule file (default: pgcanary/schedule.toml)."),
              once: Optional[str] = typer.Option(None, "--once", help="Run this one job now and exit."),
              list_jobs: bool = typer.Option(False, "--list", help="Print the schedule and exit."),
              metrics_port: Optional[int] = typer.Option(None, "--metrics-port", help="Serve Prometheus metrics here."),
              log_format: str = typer.Option("json", "--log-format", help="json (default) or text.")):
    """Run the periodic jobs (guard, health rollup, daily health, reports, cleanups) on their cron schedule."""
    from pgcanary import observability
    from pgcanary import scheduler as sched

    observability.setup_logging(log_format)
    observability.serve(metrics_port)
    os.environ.setdefault("PGCANARY_ACTOR", "scheduler")
    try:
        cfg = sched.load_config(config)
    except (OSError, ValueError) as exc:
        _fail(exc)
    if list_jobs:
        table = Table("job", "cron", "next (local)", "next (UTC)", "what",
                      title=f"pgcanary scheduler: times are {cfg.timezone}")
        for row in sched.schedule_rows(cfg):
            table.add_row(row["job"], row["crontab"], row["next_local"], row["next_utc"], row["what"])
        console.print(table)
        return
    ctx = sched.context_from_env(cfg)
    if once:
        if once not in sched.JOBS:
            _fail(ValueError(f"unknown job {once!r}; known: {', '.join(sorted(sched.JOBS))}"))
        ok = sched.run_job(once, sched.JOBS[once], ctx) is not None
        db.close_pool()
        raise typer.Exit(0 if ok else 1)
    runner = sched.build_scheduler(cfg, ctx)
    try:
        runner.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        db.close_pool()


@app.command()
def worker(
    worker_id: Optional[str] = typer.Option(None, "--worker-id", help="Default: host:pid."),
    batch_size: int = typer.Option(50, "--batch-size", min=1, max=1000),
    lease_seconds: int = typer.Option(120, "--lease-seconds", min=1, max=3600),
    poll_interval: float = typer.Option(1.0, "--poll-interval", help="Seconds between claims when idle."),
    max_idle: Optional[float] = typer.Option(None, "--max-idle", help="Stop after this many idle seconds."),
    once: bool = typer.Option(False, "--once", help="Stop as soon as the queue is empty."),
    channel: str = typer.Option("whatsapp", "--channel", help="Guardrail channel and circuit breaker name."),
    evolution_url: str = typer.Option(..., "--evolution-url", envvar="EVOLUTION_API_URL"),
    evolution_key: str = typer.Option(..., "--evolution-key", envvar="EVOLUTION_API_KEY"),
    evolution_instance: str = typer.Option(..., "--evolution-instance", envvar="EVOLUTION_INSTANCE"),
    connect_timeout: float = typer.Option(3.0, "--connect-timeout"),
    read_timeout: float = typer.Option(15.0, "--read-timeout"),
    backoff_initial: float = typer.Option(0.3, "--backoff-initial", help="First retry wait (seconds)."),
    backoff_max: float = typer.Option(3.0, "--backoff-max"),
    metrics_port: Optional[int] = typer.Option(None, "--metrics-port", help="Serve Prometheus metrics here."),
    log_format: str = typer.Option("json", "--log-format", help="json (default) or text."),
):
    """Drain the outbox through Evolution API (SIGTERM: finish the message in flight, release the rest)."""
    from pgcanary import observability
    from pgcanary.worker import Worker, WorkerSettings

    observability.setup_logging(log_format)
    observability.serve(metrics_port)
    try:
        settings = WorkerSettings(
            database_url=db.database_url(), evolution_url=evolution_url, evolution_key=evolution_key,
            evolution_instance=evolution_instance, channel=channel, batch_size=batch_size,
            lease_seconds=lease_seconds, poll_interval=poll_interval, max_idle=max_idle, once=once,
            connect_timeout=connect_timeout, read_timeout=read_timeout, backoff_initial=backoff_initial,
            backoff_max=backoff_max)
        if worker_id:
            settings.worker_id = worker_id
        stats = Worker(settings).run()
    except (PgCanaryError, psycopg.Error, RuntimeError) as exc:
        _fail(exc)
    # One JSON line: counts only (no message content), for operators and the fault tests.
    typer.echo(json.dumps({"worker_id": settings.worker_id, **stats}))


@app.command()
def demo():
    """Run the demo on an embedded throwaway Postgres."""
    from pgcanary.demo import run

    run(console)


if __name__ == "__main__":
    app()
