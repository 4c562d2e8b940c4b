"""`pgcanary scheduler`: the periodic jobs, on APScheduler 3 cron triggers.

The schedule is a TOML file (python_glue/pgcanary/schedule.toml by default; `--config` or
PGCANARY_SCHEDULE for another). Each job calls one or two RPCs and decides nothing itself:
the guard's rules, the panel's OK / ALERT, what the cleanups delete are the database's.

Every run logs one JSON line (job, status, duration_ms and the job's summary: counts and ids
of our own rows, never a parameter or a client's data). A job that raises is logged, alerted
to Slack, and the scheduler carries on: the next run is the retry.
"""

from __future__ import annotations

import logging
import os
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from pathlib import Path
from typing import Any, Callable

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from slack_sdk.webhook import WebhookClient

from pgcanary import alerts, events, governance, health, outbox, rate_limits, slack
from pgcanary.observability import scheduler_metrics

log = logging.getLogger("pgcanary.scheduler")

DEFAULT_CONFIG = Path(__file__).with_name("schedule.toml")
CRON_FIELDS = {"year", "month", "day", "week", "day_of_week", "hour", "minute", "second"}


@dataclass
class Context:
    """What a job may use besides the database: the Slack poster."""

    notify: Callable[[str], None]
    webhook_url: str | None = None


# ------------------------------------------------------------------------------------------
# The jobs. Each returns a small summary for its log line.

def deliver_alerts(ctx: Context) -> dict[str, int]:
    """Posts the queued alerts (alert_outbox) until Slack accepts each; one that fails is
    retried by the database's backoff on a later run. The texts are the database's."""
    delivered = failed = 0
    for alert_id, _kind, text, _attempts, _created in alerts.alert_claim():
        try:
            ctx.notify(text)
        except Exception as exc:  # Slack down or refusing: the row stays, retried later
            alerts.alert_failed(alert_id, type(exc).__name__)
            failed += 1
            continue
        alerts.alert_delivered(alert_id)
        delivered += 1
    return {"alerts_delivered": delivered, "alerts_failed": failed}


def job_guard(ctx: Context) -> dict[str, Any]:
    """Seed 002: an opted-out client messaged is "rollback imediato + pausar_julia". The guard
    queues its P0 alert in its own transaction; posting it is deliver_alerts'."""
    result = governance.guard_tick()
    summary = {k: result.get(k) for k in ("action", "outbound_to_opted_out", "incident_id")}
    return summary | deliver_alerts(ctx)


def job_alerts(ctx: Context) -> dict[str, Any]:
    return deliver_alerts(ctx)


def job_health_rollup(ctx: Context) -> dict[str, Any]:
    result = health.refresh_health_rollup()
    # The gauges an operator watches (metrics, --metrics-port): gate verdicts and the outbox.
    gates = {row[0]: row[5] for row in governance.flag_overview() if row[5]}
    box = outbox.outbox_metrics()
    return ({k: result.get(k) for k in ("refreshed", "rebuilt", "events_recounted")}
            | {"gates": gates, "unknown": box["unknown"], "held": box["depth"].get("held", 0)})


def job_daily_health(ctx: Context) -> dict[str, Any]:
    report = health.daily_health()
    alerts.alert_enqueue("daily_health", health.format_daily_health(report))
    return {"health": report["status"], "alerts": len(report["alerts"])} | deliver_alerts(ctx)


def job_rollout_report(ctx: Context) -> dict[str, Any]:
    if not ctx.webhook_url:
        raise RuntimeError("no Slack webhook configured: set the variable named by slack_webhook_env")
    slack.post_rollout_report(ctx.webhook_url)
    return {"posted": True}


def job_event_rollup(ctx: Context) -> dict[str, Any]:
    result = events.refresh_event_rollup()
    return {k: result.get(k) for k in ("refreshed", "events_recounted")}


def job_event_partitions(ctx: Context) -> dict[str, Any]:
    result = events.maintain_event_partitions()
    return {"created": len(result["created"]), "dropped": len(result["dropped"])}


def job_rate_limit_cleanup(ctx: Context) -> dict[str, Any]:
    return {"deleted": rate_limits.cleanup_rate_limits()}


def job_outbox_lease_reaper(ctx: Context) -> dict[str, Any]:
    # Leases that ran out while sending become unknown (never resent automatically).
    return {"expired": outbox.outbox_expire_leases()}


JOBS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "guard": job_guard,
    "health_rollup": job_health_rollup,
    "daily_health": job_daily_health,
    "rollout_report": job_rollout_report,
    "event_rollup": job_event_rollup,
    "event_partitions": job_event_partitions,
    "rate_limit_cleanup": job_rate_limit_cleanup,
    "outbox_lease_reaper": job_outbox_lease_reaper,
    "alerts": job_alerts,
}


# ------------------------------------------------------------------------------------------
# Running a job: one log line, and an alert when it fails.

def run_job(name: str, fn: Callable[[Context], dict[str, Any]], ctx: Context) -> dict[str, Any] | None:
    started = time.perf_counter()
    try:
        summary = fn(ctx)
    except Exception as exc:  # a failing job must not stop the others
        line: dict[str, Any] = {"job": name, "status": "error", "duration_ms": _ms(started),
                                "error": type(exc).__name__}
        if getattr(exc, "sqlstate", None):
            line["sqlstate"] = exc.sqlstate
        try:
            ctx.notify(f"*⚠️ pgcanary: o job `{name}` falhou* ({type(exc).__name__}): {_first_line(exc)}")
            line["alerted"] = True
        except Exception as alert_exc:
            line["alerted"] = False
            line["alert_error"] = type(alert_exc).__name__
        log.error("job %s failed", name, extra={"job_run": line})
        scheduler_metrics().job(name, "error", None)
        return None
    line = {"job": name, "status": "ok", "duration_ms": _ms(started)}
    line.update({k: v for k, v in (summary or {}).items() if k not in line})
    log.info("job %s ok", name, extra={"job_run": line})
    scheduler_metrics().job(name, "ok", summary)
    return summary


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _first_line(exc: Exception) -> str:
    # Our SQL errors name values only by prefix or length (never props or phones); the first
    # line, capped, is what an operator needs to start.
    return str(exc).splitlines()[0][:300] if str(exc) else ""


# ------------------------------------------------------------------------------------------
# Slack.

class SlackNotConfigured(RuntimeError):
    pass


def slack_notifier(webhook_url: str | None) -> Callable[[str], None]:
    if not webhook_url:
        def refuse(text: str) -> None:
            raise SlackNotConfigured("no Slack webhook configured: set the variable named by slack_webhook_env")
        return refuse
    client = WebhookClient(webhook_url, timeout=10)

    def notify(text: str) -> None:
        response = client.send(text=text)
        if response.status_code != 200:
            raise slack.SlackPostFailed(response)
    return notify


# ------------------------------------------------------------------------------------------
# Configuration and the scheduler.

@dataclass
class Config:
    timezone: str
    slack_webhook_env: str
    triggers: dict[str, CronTrigger] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)  # as written, for --list


def load_config(path: Path | str | None = None) -> Config:
    path = Path(path or os.environ.get("PGCANARY_SCHEDULE") or DEFAULT_CONFIG)
    raw = tomllib.loads(path.read_text())
    # No default zone: a file read as UTC while its readers meant Sao Paulo is how the docs and
    # the file came to disagree (issue 17). The zone is stated, and it must be a real one.
    tz = raw.get("timezone")
    if not tz:
        raise ValueError(f'{path}: state the timezone of the times, for example timezone = "America/Sao_Paulo" or "UTC"')
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{path}: unknown timezone {tz!r} (an IANA name such as America/Sao_Paulo)") from exc
    config = Config(timezone=tz, slack_webhook_env=raw.get("slack_webhook_env", "PGCANARY_SLACK_WEBHOOK_URL"))
    for name, spec in (raw.get("jobs") or {}).items():
        if name not in JOBS:
            raise ValueError(f"{path}: unknown job {name!r}; known jobs: {', '.join(sorted(JOBS))}")
        if not spec.get("enabled", True):
            continue
        fields = {k: v for k, v in spec.items() if k not in ("enabled", "crontab", "what")}
        if set(fields) - CRON_FIELDS:
            raise ValueError(f"{path}: job {name!r}: unknown keys {sorted(set(fields) - CRON_FIELDS)}")
        if "crontab" in spec and fields:
            raise ValueError(f"{path}: job {name!r}: give either crontab or cron fields, not both")
        config.specs[name] = spec
        if "crontab" in spec:
            config.triggers[name] = CronTrigger.from_crontab(spec["crontab"], timezone=tz)
        elif fields:
            config.triggers[name] = CronTrigger(timezone=tz, **fields)
        else:
            raise ValueError(f"{path}: job {name!r} has no schedule (crontab = \"* * * * *\" or cron fields)")
    return config


def schedule_rows(config: Config, now: datetime | None = None) -> list[dict[str, str]]:
    """One row per job for `pgcanary scheduler --list`: its schedule as written and its next
    run in the file's zone and in UTC, so nobody has to convert in their head."""
    now = now or datetime.now(timezone.utc)
    rows = []
    for name, trigger in config.triggers.items():
        spec = config.specs.get(name, {})
        when = spec.get("crontab") or ", ".join(f"{k}={v}" for k, v in spec.items() if k in CRON_FIELDS)
        nxt = trigger.get_next_fire_time(None, now.astimezone(ZoneInfo(config.timezone)))
        rows.append({"job": name, "crontab": when, "what": spec.get("what", ""),
                     "next_local": nxt.strftime("%Y-%m-%d %H:%M %Z") if nxt else "never",
                     "next_utc": nxt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if nxt else "never"})
    return rows


def build_scheduler(config: Config, ctx: Context, scheduler: BaseScheduler | None = None,
                    jobs: dict[str, Callable[[Context], dict[str, Any]]] | None = None) -> BaseScheduler:
    jobs = jobs or JOBS
    scheduler = scheduler or BlockingScheduler(timezone=config.timezone)
    for name, trigger in config.triggers.items():
        # One run at a time per job; runs missed while the process was busy or down collapse
        # into one (the jobs look at the current state, not at the tick they were due).
        scheduler.add_job(run_job, trigger, args=(name, jobs[name], ctx), id=name, name=name,
                          max_instances=1, coalesce=True, misfire_grace_time=60, replace_existing=True)
    return scheduler


def context_from_env(config: Config) -> Context:
    url = os.environ.get(config.slack_webhook_env) or None
    return Context(notify=slack_notifier(url), webhook_url=url)
