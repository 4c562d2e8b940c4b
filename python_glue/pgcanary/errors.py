"""Our SQLSTATEs (class PC, see docs/errors.md) as exception classes."""

from __future__ import annotations

import psycopg


class PgCanaryError(Exception):
    """An error raised by one of our SQL functions, with its SQLSTATE, message and hint."""

    sqlstate = "PC000"

    def __init__(self, message: str, *, hint: str | None = None, detail: str | None = None,
                 sqlstate: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail
        if sqlstate:
            self.sqlstate = sqlstate

    def __str__(self) -> str:
        return self.message + (f"\nHINT: {self.hint}" if self.hint else "")


class InvalidFlagValue(PgCanaryError):
    sqlstate = "PC001"


class FlagNotFound(PgCanaryError):
    sqlstate = "PC002"


class InvalidArgument(PgCanaryError):
    sqlstate = "PC003"


class UnknownEventType(PgCanaryError):
    sqlstate = "PC010"


class InvalidEvent(PgCanaryError):
    sqlstate = "PC011"


class EventPropsTooLarge(PgCanaryError):
    sqlstate = "PC012"


class EventTriggerMisconfigured(PgCanaryError):
    sqlstate = "PC013"


class InvalidMaintenanceArgument(PgCanaryError):
    sqlstate = "PC014"


class BusinessEventsTableExists(PgCanaryError):
    sqlstate = "PC019"


BY_SQLSTATE: dict[str, type[PgCanaryError]] = {
    cls.sqlstate: cls for cls in (InvalidFlagValue, FlagNotFound, InvalidArgument)
}
BY_SQLSTATE.update({cls.sqlstate: cls for cls in (UnknownEventType, InvalidEvent, EventPropsTooLarge,
                                                  EventTriggerMisconfigured, InvalidMaintenanceArgument,
                                                  BusinessEventsTableExists)})


# Governance (functions/governance.sql), PC040-PC049.
class RolloutNoGo(PgCanaryError):
    """advance_rollout refused: the gate says NO-GO (the reasons are in the message, the whole
    gate in the detail)."""
    sqlstate = "PC040"


class RolloutPlanNotFound(PgCanaryError):
    sqlstate = "PC041"


class RolloutAtLastStep(PgCanaryError):
    sqlstate = "PC042"


class PrerequisiteNotFound(PgCanaryError):
    sqlstate = "PC043"


class InvalidPrerequisite(PgCanaryError):
    sqlstate = "PC044"


class InvalidRollback(PgCanaryError):
    sqlstate = "PC045"


class IncidentNotFound(PgCanaryError):
    sqlstate = "PC046"


class InvalidIncident(PgCanaryError):
    sqlstate = "PC047"


BY_SQLSTATE.update({cls.sqlstate: cls for cls in (
    RolloutNoGo, RolloutPlanNotFound, RolloutAtLastStep, PrerequisiteNotFound, InvalidPrerequisite,
    InvalidRollback, IncidentNotFound, InvalidIncident)})


# Guardrails, rate limits, external handoff (PC020-PC029; docs/errors.md).
class InvalidPhone(PgCanaryError):
    sqlstate = "PC020"


class UnknownMethod(PgCanaryError):
    sqlstate = "PC021"


class UnknownChannel(PgCanaryError):
    sqlstate = "PC022"


class InvalidBypass(PgCanaryError):
    sqlstate = "PC023"


class InvalidToggle(PgCanaryError):
    sqlstate = "PC024"


class HandoffConflict(PgCanaryError):
    sqlstate = "PC025"


class HandoffNotFound(PgCanaryError):
    sqlstate = "PC026"


class HandoffDisabled(PgCanaryError):
    sqlstate = "PC027"


class InvalidRateLimitSubject(PgCanaryError):
    sqlstate = "PC028"


class RateLimitIsolation(PgCanaryError):
    sqlstate = "PC029"


BY_SQLSTATE.update({cls.sqlstate: cls for cls in (
    InvalidPhone, UnknownMethod, UnknownChannel, InvalidBypass, InvalidToggle, HandoffConflict,
    HandoffNotFound, HandoffDisabled, InvalidRateLimitSubject, RateLimitIsolation)})



# Outbox and circuit breaker (PC030-PC039; docs/errors.md).
class InvalidOutboxArgument(PgCanaryError):
    sqlstate = "PC030"


class OutboundMessageNotFound(PgCanaryError):
    sqlstate = "PC031"


class OutboundStatusConflict(PgCanaryError):
    sqlstate = "PC032"


class InvalidCircuitArgument(PgCanaryError):
    sqlstate = "PC033"


BY_SQLSTATE.update({cls.sqlstate: cls for cls in (
    InvalidOutboxArgument, OutboundMessageNotFound, OutboundStatusConflict, InvalidCircuitArgument)})

# Install (PC050-PC059; docs/errors.md, docs/migrate.md). A refused install changed nothing.
class YoyoBookkeepingInPublic(PgCanaryError):
    sqlstate = "PC050"


class AlreadyInstalled(PgCanaryError):
    sqlstate = "PC051"


class TableExists(PgCanaryError):
    sqlstate = "PC052"


class PrivateSchemaNotOurs(PgCanaryError):
    sqlstate = "PC053"


class FlagValueNotJson(PgCanaryError):
    sqlstate = "PC054"


BY_SQLSTATE.update({cls.sqlstate: cls for cls in (YoyoBookkeepingInPublic, AlreadyInstalled, TableExists, PrivateSchemaNotOurs, FlagValueNotJson)})

# Ecosystem (PC090-PC099; docs/errors.md, docs/schedule.md).
class PgCronMissing(PgCanaryError):
    sqlstate = "PC090"


BY_SQLSTATE.update({cls.sqlstate: cls for cls in (PgCronMissing,)})


# Audit (PC060-PC069; docs/errors.md, docs/audit.md).
class TruncateRefused(PgCanaryError):
    sqlstate = "PC060"


class SeedFlagKey(PgCanaryError):
    sqlstate = "PC061"


class OptOutKeyChange(PgCanaryError):
    sqlstate = "PC062"


class TrailAppendOnly(PgCanaryError):
    sqlstate = "PC063"


class RetentionUnderFloor(PgCanaryError):
    sqlstate = "PC064"


class PhoneKeyInUse(PgCanaryError):
    sqlstate = "PC065"


BY_SQLSTATE.update({cls.sqlstate: cls for cls in (TruncateRefused, SeedFlagKey, OptOutKeyChange, TrailAppendOnly, RetentionUnderFloor,
                                                  PhoneKeyInUse)})


# Input hygiene (PC070-PC079; docs/errors.md, docs/pii.md).
class ValueTooLarge(PgCanaryError):
    sqlstate = "PC070"


class PhoneInKey(PgCanaryError):
    sqlstate = "PC071"


class ValueTooDeep(PgCanaryError):
    sqlstate = "PC072"


BY_SQLSTATE.update({cls.sqlstate: cls for cls in (ValueTooLarge, PhoneInKey, ValueTooDeep)})


# Operator commands (PC080-PC089; docs/errors.md, docs/operator.md).
class NoOnOffState(PgCanaryError):
    sqlstate = "PC080"


class SafeStateFixed(PgCanaryError):
    sqlstate = "PC081"


class GatedPercentage(PgCanaryError):
    sqlstate = "PC082"


class InvalidAlert(PgCanaryError):
    sqlstate = "PC083"


BY_SQLSTATE.update({cls.sqlstate: cls for cls in (NoOnOffState, SafeStateFixed, GatedPercentage, InvalidAlert)})


def translate(exc: psycopg.Error) -> Exception:
    """Our own SQLSTATEs become our exception classes; anything else is returned as is."""
    state = getattr(exc, "sqlstate", None) or ""
    if not state.startswith("PC"):
        return exc
    diag = exc.diag
    cls = BY_SQLSTATE.get(state, PgCanaryError)
    return cls(diag.message_primary or str(exc), hint=diag.message_hint,
               detail=diag.message_detail, sqlstate=state)
