"""`pgcanary` command line: operators' commands print a readable table and exit non-zero on error."""

from __future__ import annotations

import json
import os
from typing import Optional

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from pgcanary import db, flags
from pgcanary.errors import PgCanaryError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Canary rollouts and outbound guardrails inside Postgres.")
console = Console()
err = Console(stderr=True)


@app.callback()
def main(database_url: Optional[str] = typer.Option(None, "--database-url", envvar="DATABASE_URL",
                                                    help="Postgres URL (default: $DATABASE_URL).")):
    if database_url:
        os.environ["DATABASE_URL"] = database_url


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(1)


def _show(title: str, data: dict) -> None:
    table = Table(title=title, show_header=False)
    for key, value in data.items():
        table.add_row(str(key), json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    console.print(table)


def _run(fn, *args, title: str, **kwargs):
    try:
        result = fn(*args, **kwargs)
    except (PgCanaryError, psycopg.Error, RuntimeError) as exc:
        _fail(exc)
    finally:
        db.close_pool()
    if isinstance(result, dict):
        _show(title, result)
    else:
        console.print(f"{title}: {result}")
    return result


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
def status(flag: str = typer.Argument("business_events_canary")):
    """Rollout status of a flag."""
    _run(flags.get_rollout_status, flag, title=f"rollout status: {flag}")


@app.command("set-percentage")
def set_percentage(flag: str, percentage: int, reason: str = typer.Option(..., "--reason", "-r")):
    """Set a canary flag's percentage (audited)."""
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
    """Kill switch: the flag is off for everyone on the next call."""
    _run(flags.kill_flag, flag, reason, title=f"{flag} killed")


@app.command()
def resume(flag: str, reason: str = typer.Option(..., "--reason", "-r")):
    """Undo kill: the flag is on again at its previous percentage."""
    _run(flags.resume_flag, flag, reason, title=f"{flag} resumed")


@app.command()
def audit(flag: Optional[str] = typer.Argument(None), limit: int = typer.Option(20, "--limit")):
    """The latest audited changes of a flag (or of all flags)."""
    try:
        rows = flags.flag_audit_trail(flag, limit)
    except (PgCanaryError, psycopg.Error, RuntimeError) as exc:
        _fail(exc)
    finally:
        db.close_pool()
    table = Table(title="feature_flag_audit")
    for col in ("when", "flag", "op", "actor", "reason", "old", "new"):
        table.add_column(col)
    for r in rows:
        table.add_row(r[7].strftime("%Y-%m-%d %H:%M:%S"), r[1], r[2], r[5], r[6] or "",
                      json.dumps(r[3]), json.dumps(r[4]))
    console.print(table)


@app.command()
def drill(flag: str = typer.Option("guardrails_canary", "--flag", help="The canary the rollback step moves."),
          record: bool = typer.Option(False, "--record", help="Write the outcome to prerequisite D2 of the flag."),
          as_json: bool = typer.Option(False, "--json", help="Print the evidence as JSON.")):
    """Run the incident playbook (seed 002, D2) in a rolled-back transaction and print the evidence."""
    from pgcanary.drill import run_drill, to_json

    try:
        with psycopg.connect(db.database_url(), autocommit=True, **db.connect_kwargs()) as conn:
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
              list_jobs: bool = typer.Option(False, "--list", help="Print the schedule and exit.")):
    """Run the periodic jobs (guard, health rollup, daily health, reports, cleanups) on their cron schedule."""
    import logging

    from pgcanary import scheduler as sched

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
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
):
    """Drain the outbox through Evolution API (SIGTERM: finish the message in flight, release the rest)."""
    import logging

    from pgcanary.worker import Worker, WorkerSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
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
