"""pgcanary: canary rollouts and outbound guardrails inside Postgres, with a thin Python layer.

Every rule lives in SQL; this package only calls the RPCs, schedules jobs and talks HTTP.
"""

from pgcanary.errors import (  # noqa: F401
    FlagNotFound,
    InvalidArgument,
    InvalidFlagValue,
    PgCanaryError,
)

__version__ = "0.1.0"
