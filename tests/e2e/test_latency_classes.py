"""Queues by latency class, proven under load (adr/0003): while the batch queue is flooded with
the learning platform's heavy work (an export bundle's fan-out, image variants decoded in the
sandbox, similarity checks), a learner's grading on the interactive queue still starts within
seconds, with one worker per queue and the concurrency docker/compose.yaml gives each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from core.accounts.models import Tenant, User
from core.learning import exports, media, services
from core.learning.models import GradingAttempt, Kind, LessonImage, SimilarityCheck, Submission
from core.platform.roles import Role
from outbox.models import OutboxEvent
from tests.helpers import images
from tests.helpers.learning import published
from tests.helpers.people import make_user
from tests.helpers.processes import ROOT, processes, start_relay, start_worker, wait_until

pytestmark = pytest.mark.usefixtures("outbox_db", "broker")

# How soon after its submission commits a grading must start, with batch flooded. Idle, it is
# about 0.2 s (relay wake-up, broker, worker); the bound leaves room for a loaded 2-core machine.
START_BOUND_S = 5.0
SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = "import solution\n\ndef test_adds():\n    assert solution.add(1, 2) == 3\n"


def compose_workers() -> dict[str, int]:
    """Queue -> concurrency of each worker service of docker/compose.yaml."""
    services_ = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    workers = {}
    for service in services_.values():
        command = service.get("command") or []
        if "worker" in command and "-Q" in command:
            workers[command[command.index("-Q") + 1]] = int(command[command.index("--concurrency") + 1])
    return workers


def test_a_grading_starts_within_seconds_while_batch_is_flooded(
        log_dir: Path, settings: Any, bob: User, harbor: Tenant) -> None:
    workers = compose_workers()
    assert set(workers) == {"interactive", "default", "batch"}
    problem = published(bob, bob, kind=Kind.PROBLEM, title="Add two doses", body="Write add(a, b).",
                        tests=TESTS).content_id
    lessons = [published(bob, bob, title=f"Lesson {n}", body=f"Step {n}.").content_id for n in range(150)]
    learners = [make_user(f"learner{n}", harbor, Role.LEARNER) for n in range(41)]
    env = {"MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    # The batch worker starts last (processes start in any order), so that the flood is all
    # queued when it does: the test needs batch's backlog, not a race with it.
    early = [start_worker(log_dir, f"worker-{queue}", queues=queue, concurrency=concurrency, **env)
             for queue, concurrency in workers.items() if queue != "batch"]
    relay = start_relay(log_dir, **env)
    with processes(relay, *early):
        # The flood: 40 gradings, whose 40 similarity checks go to batch...
        for learner in learners[:40]:
            services.submit_solution(problem, learner, SOLUTION)
        wait_until(lambda: not Submission.objects.filter(status__in=Submission.PENDING).exists(), 120, 0.1,
                   "the 40 gradings to finish (interactive is idle again)")
        # ...12 photos' variants (seconds of sandboxed decoding each), an export of 150 items.
        photos = [media.upload_image(bob, images.noisy_jpeg(2400, 1600), f"photo-{n}.jpg") for n in range(12)]
        bundle = exports.request_export(bob, lessons, "Everything")
        batch = start_worker(log_dir, "worker-batch", queues="batch", concurrency=workers["batch"], **env)
        with processes(batch):
            wait_until(lambda: SimilarityCheck.objects.exists(), 60, 0.05, "the batch worker to be at work")
            # Then one more learner submits, while batch has most of its work ahead.
            submission = services.submit_solution(problem, learners[40], SOLUTION)
            committed = OutboxEvent.objects.get(event_type="submission.received",
                                                aggregate_id=str(submission.id)).created_at

            def grading_started() -> bool:
                return GradingAttempt.objects.filter(submission_id=submission.id).exists()

            wait_until(grading_started, 60, 0.02, "the grading to start")
            attempt = GradingAttempt.objects.get(submission_id=submission.id)
            waited = (attempt.started_at - committed).total_seconds()
            batch_left = OutboxEvent.objects.filter(queue="batch").exclude(status="completed").count()
            photos_left = LessonImage.objects.filter(id__in=[p.id for p in photos], status="processing").count()
            wait_until(lambda: Submission.objects.get(id=submission.id).status == "passed", 60, 0.1,
                       "the grading to pass")

    assert bundle.items_total == 150
    assert batch_left > 20, "the flood was over before the grading came: nothing was proven"
    assert photos_left > 0
    print(f"grading started {waited:.2f} s after its commit, with {batch_left} batch events waiting")
    assert waited <= START_BOUND_S, f"the grading waited {waited:.2f} s behind batch work"
