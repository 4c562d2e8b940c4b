"""`make demo` keeps working: the demo runs on its own throwaway Postgres and shows the story."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("pgcanary"))


def test_demo_runs_end_to_end():
    env = dict(os.environ, COLUMNS="160")
    env.pop("DATABASE_URL", None)
    done = subprocess.run([CLI, "demo"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    # Cohorts grow monotonically: every earlier cohort is kept whole.
    table = out.split("kept from previous phase")[1].split("Raising the percentage")[0]
    kept = re.findall(r"(\d+)/(\d+)", table)
    assert len(kept) == 3 and all(have == of and int(of) > 0 for have, of in kept), table
    assert "TARGETING_MATCH" in out
    assert "Clients in the cohort right after the kill: 0" in out
    assert "should_emit_event -> False; re-enabled -> True" in out
    assert "demo done" in out
