"""The production compose file is valid and runs the same processes as `make up`."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml

from core.platform.tasks import QUEUES

ROOT = Path(__file__).resolve().parents[2]


# Development stand-ins for what production gets from elsewhere: the SMTP server that keeps
# `make up`'s mail in .var/mail (production sends through the relay named by EMAIL_HOST).
DEVELOPMENT_ONLY = {"mail"}


def procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        words = [w for w in shlex.split(command) if "=" not in w.split("/")[0] and w != "exec"]
        if name.strip() not in DEVELOPMENT_ONLY:
            processes[name.strip()] = [Path(words[0]).name, *words[1:]]
    return processes


def compose() -> dict[str, dict[str, Any]]:
    """The compose file as Docker Compose itself resolves it (anchors, merges, variables)."""
    result = subprocess.run(
        ["docker-compose", "-f", "docker/compose.yaml", "config"], cwd=ROOT, capture_output=True,
        text=True, check=False,
        env={**os.environ, "SECRET_KEY": "s", "POSTGRES_PASSWORD": "p", "EMAIL_HOST": "smtp.example"},
    )
    assert result.returncode == 0, result.stderr
    services: dict[str, dict[str, Any]] = yaml.safe_load(result.stdout)["services"]
    return services


def test_compose_accepts_the_file_and_it_has_the_whole_topology() -> None:
    services = compose()
    assert {"postgres", "redis", "migrate", "web", "beat"} <= services.keys()
    redis_command = services["redis"]["command"]
    assert "--appendonly" in redis_command
    assert redis_command[redis_command.index("--appendfsync") + 1] == "everysec"
    assert services["beat"]["deploy"] == {"replicas": 2}  # one leads, one stands by (adr/0015)
    assert services["relay"]["deploy"] == {"replicas": 2}


def test_every_procfile_process_runs_in_production_with_the_same_command() -> None:
    services = compose()
    commands = {name: [str(w) for w in svc.get("command") or []] for name, svc in services.items()}
    for name, command in procfile().items():
        program_and_subcommand = command[:4] if command[0] == "celery" else command[:3] if command[1] == "manage.py" \
            else command[:2]
        matches = [svc for svc, words in commands.items() if words[: len(program_and_subcommand)]
                   == program_and_subcommand]
        assert matches, f"Procfile process {name!r} ({' '.join(command)}) has no compose service"


def test_production_refuses_to_start_without_an_smtp_relay() -> None:
    result = subprocess.run(["docker-compose", "-f", "docker/compose.yaml", "config"], cwd=ROOT, capture_output=True,
                            text=True, check=False, env={**os.environ, "SECRET_KEY": "s", "POSTGRES_PASSWORD": "p",
                                                         "EMAIL_HOST": ""})
    assert result.returncode != 0
    assert "set EMAIL_HOST" in result.stderr


def test_production_has_one_worker_per_queue_and_development_one_on_all_queues() -> None:
    commands = {name: svc.get("command") or [] for name, svc in compose().items()}
    production_queues = sorted(
        words[words.index("-Q") + 1] for words in commands.values() if "worker" in words
    )
    assert production_queues == sorted(QUEUES)
    worker = procfile()["worker"]
    assert set(worker[worker.index("-Q") + 1].split(",")) == set(QUEUES)
