"""The chaos run's quick mode, as CI runs it: the whole topology as hosts in network namespaces
on private servers, a mixed load through the API, six fault kinds (a partition and a
worker-pause-then-flush among them), then recovery by the system's own schedules only and the
checks. Nothing may be lost, nothing done twice, nothing done by hand."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bench.chaos.faults import QUICK_KINDS

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^  (\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", re.MULTILINE)


def test_the_quick_chaos_run_recovers_by_itself_losing_nothing_and_doing_nothing_twice() -> None:
    # The run makes its own hosts, servers and database: none of the test settings apply to it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FERRY_TEST", "DJANGO_SETTINGS_MODULE"))}
    result = subprocess.run([sys.executable, "manage.py", "chaos", "--quick", "--seed", "7"],
                            cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "core.config.settings"},
                            capture_output=True, text=True, timeout=900, check=False)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-8000:]
    final = re.search(r"^lost=(\d+) duplicate_effects=(\d+) forced=(\d+)$", result.stdout, re.MULTILINE)
    assert final is not None, report[-8000:]
    assert final.groups() == ("0", "0", "0"), report[-8000:]

    faults = {kind: tuple(int(n) for n in numbers) for kind, *numbers in ROW.findall(result.stdout)}
    for kind in QUICK_KINDS:  # each injected, verifiably (a failed injection is not counted)
        assert faults.get(kind, (0,))[0] >= 1, (kind, faults, report[-8000:])
    assert faults["workers_paused_flushall"][2] > 0, "the flush found the queues holding messages"
    struck = [int(n) for n in re.findall(r"\(struck (\d+) queued messages", result.stdout)]
    assert len(struck) == len(QUICK_KINDS), report[-4000:]
    assert min(struck) >= 1, f"every fault meets work waiting in the queues: {struck}"
    # Something had to be repaired, and was: a dropped message whose worker still held a copy
    # (restored to the queue after the visibility timeout) needs nothing, so this is over all faults.
    assert sum(row[3] + row[4] for row in faults.values()) > 0, report[-4000:]

    # Recovery came from beat's schedules: the sweep and both heals were sent, and it settled.
    sends = dict(re.findall(r"beat sent: (.+?)\s{2,}(\d+)$", result.stdout, re.MULTILINE))
    assert int(sends.get("outbox: redeliver stalled events", 0)) >= 2, sends
    assert int(sends.get("heal_search_index every 10 minutes", 0)) >= 1, sends
    assert int(sends.get("heal_pending_gradings every 2 minutes", 0)) >= 1, sends
    assert re.search(r"^settled [\d.]+ s after the last fault ended$", result.stdout, re.MULTILINE), report[-4000:]
