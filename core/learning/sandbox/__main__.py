"""`python -m core.learning.sandbox`: can this machine (or container) grade submissions?

Runs the isolation probe and two tiny gradings (a passing submission and an infinite
loop), prints what it found and exits 0 if grading works, 1 if it would refuse. Run it
where the workers run, for example:

    docker compose -f docker/compose.yaml run --rm worker-interactive python -m core.learning.sandbox
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.config.settings")
    import django

    django.setup()
    from core.learning.sandbox import SandboxLimits, grade
    from core.learning.sandbox.probe import current_probe

    probe = current_probe()
    if probe.mechanism is None or probe.environment is None:
        print(f"NO ISOLATION: {probe.reason}\nGrading refuses every submission on this machine (fail closed).")
        return 1
    env = probe.environment
    user = env.credentials.name if env.credentials else f"uid {os.getuid()} (this process's own)"
    print(f"isolation:   {probe.mechanism} ({env.bwrap})\ninterpreter: {env.interpreter.executable} "
          f"{env.interpreter.version}\nruns as:     {user}\nlimits:      {SandboxLimits.from_settings()}")
    limits = SandboxLimits(cpu_s=1, wall_s=10)
    tests = "import solution\ndef test_adds():\n    assert solution.add(2, 3) == 5\n"
    checks = [("a correct submission", "def add(a, b):\n    return a + b\n", "passed"),
              ("an infinite loop", "def add(a, b):\n    while True:\n        pass\n", "timed_out")]
    ok = True
    for what, source, expected in checks:
        report = grade(source, tests, limits)
        ok &= report.status == expected
        print(f"{what}: {report.status} (expected {expected}) in {report.duration_ms} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
