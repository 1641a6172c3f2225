"""The chaos run's quick mode, as CI runs it: the whole topology on private servers, a mixed
load through the API, every fault kind once, then the checks. Nothing may be lost."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_chaos_run_loses_nothing_under_every_kind_of_fault() -> None:
    # The run makes its own servers and database: none of the test settings apply to it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FERRY_TEST", "DJANGO_SETTINGS_MODULE"))}
    result = subprocess.run([sys.executable, "manage.py", "chaos", "--quick", "--seed", "7"],
                            cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "core.config.settings"},
                            capture_output=True, text=True, timeout=600, check=False)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-6000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"lost=(\d+) duplicates_absorbed=(\d+) repairs=(\d+)", last)
    assert match is not None, report[-6000:]
    assert match.group(1) == "0"
    faults = dict(re.findall(r"faults: (\w+)\s+(\d+)", result.stdout))
    assert set(faults) == {"relay_sigkill", "worker_sigkill", "broker_flushall", "redis_restart",
                           "postgres_restart", "worker_pause"}
    assert all(int(n) >= 1 for n in faults.values()), faults
    assert int(match.group(3)) > 0, "the FLUSHALL dropped messages, so something had to be repaired"
