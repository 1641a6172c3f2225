"""`manage.py sandbox_check`: can this machine (or container) grade submissions?"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.learning.grading import sandbox_host, sandbox_limits
from core.learning.sandbox import Sandbox, SandboxLimits, probe

TESTS = "import solution\ndef test_adds():\n    assert solution.add(2, 3) == 5\n"
CHECKS = (("a correct submission", "def add(a, b):\n    return a + b\n", "passed"),
          ("an infinite loop", "def add(a, b):\n    while True:\n        pass\n", "timed_out"))


class Command(BaseCommand):
    help = ("Run the sandbox's isolation probe with this machine's SANDBOX_* settings, then grade a passing "
            "submission and an infinite loop. Exits 0 if grading works, 1 if it would refuse (fail closed). "
            "Run it where the workers run.")

    def handle(self, *args: Any, **options: Any) -> None:
        host = sandbox_host()
        found = probe.current_probe(host)
        if found.mechanism is None or found.environment is None:
            raise CommandError(f"NO ISOLATION: {found.reason}\n"
                               "Grading refuses every submission on this machine (fail closed).")
        env = found.environment
        user = env.credentials.name if env.credentials else f"uid {os.getuid()} (this process's own)"
        self.stdout.write(f"isolation:   {found.mechanism} ({env.bwrap})\ninterpreter: {env.interpreter.executable} "
                          f"{env.interpreter.version}\nruns as:     {user}\nlimits:      {sandbox_limits()}")
        sandbox = Sandbox(host, SandboxLimits(cpu_s=1, wall_s=10))
        failures = 0
        for what, source, expected in CHECKS:
            report = sandbox.grade(source, TESTS)
            failures += report.status != expected
            self.stdout.write(f"{what}: {report.status} (expected {expected}) in {report.duration_ms} ms")
        if failures:
            raise CommandError(f"{failures} check(s) did not give the expected result")
