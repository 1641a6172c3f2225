"""Redis loses everything right after the relay handed it a publish and a submission: the
heals find both gaps in PostgreSQL and the real relay and worker repair them.

A private redis-server stands in for the broker and pub/sub, so FLUSHALL is the real command
and touches nobody else's data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from django.db import connection

from core.accounts.models import User
from core.learning import services
from core.learning.heals import heal_pending_gradings, heal_search_index
from core.learning.models import Kind, SearchDocument, Submission
from tests.helpers.learning import published
from tests.helpers.processes import RedisServer, processes, start_relay, start_worker, wait_until

pytestmark = pytest.mark.usefixtures("outbox_db")


SOLUTION = "def add(a, b):\n    return a + b\n"


def every_claimable_task_event_relayed() -> bool:
    """The relay handed Redis every task event it may: the rest wait for an earlier event of
    their ordering key to complete."""
    with connection.cursor() as cursor:
        cursor.execute(CLAIMABLE_TASK_EVENTS)
        waiting, relayed = cursor.fetchone()
    return waiting == 0 and relayed > 0


CLAIMABLE_TASK_EVENTS = """
SELECT count(*) FILTER (WHERE e.status = 'pending'
                          AND (e.key_seq IS NULL OR e.key_seq = (SELECT k.done_seq + 1 FROM outbox_key k
                                                                 WHERE k.ordering_key = e.ordering_key))),
       count(*) FILTER (WHERE e.status = 'relayed')
FROM outbox_event e WHERE e.task_name IS NOT NULL
"""


def test_after_a_flushall_the_heals_repair_a_lost_index_event_and_a_lost_grading(
        log_dir: Path, private_redis: RedisServer, bob: User, lena: User) -> None:
    broker_url, pubsub_url = f"{private_redis.url}/0", f"{private_redis.url}/2"
    problem = published(bob, bob, kind=Kind.PROBLEM, title="Add two doses", body="Write add(a, b).")
    lesson = published(bob, bob, title="Hand hygiene before wound care", body="Wash for twenty seconds.")
    submission = services.submit_solution(problem.content_id, lena, SOLUTION)

    relay = start_relay(log_dir, REDIS_BROKER_URL=broker_url, REDIS_PUBSUB_URL=pubsub_url)
    with processes(relay):
        wait_until(every_claimable_task_event_relayed, 30, message="the relay to hand every task event to Redis")
        client = redis.Redis.from_url(private_redis.url)
        assert client.llen("default") + client.llen("interactive") > 0
        client.flushall()  # the messages are gone; Postgres says they were relayed
        client.close()

        worker = start_worker(log_dir, REDIS_BROKER_URL=broker_url, REDIS_PUBSUB_URL=pubsub_url)
        with processes(worker):
            assert not SearchDocument.objects.filter(content_id=lesson.content_id).exists()
            assert Submission.objects.get(id=submission.id).status == "queued"

            index_repairs = heal_search_index()
            assert {r.target for r in index_repairs.repairs} == {f"content:{problem.content_id}",
                                                                 f"content:{lesson.content_id}"}
            wait_until(lambda: SearchDocument.objects.filter(content_id=lesson.content_id).exists(), 30,
                       message="the repaired document to be indexed")
            assert heal_search_index().repairs == []

            assert heal_pending_gradings().repairs == []  # not past its deadline yet: nothing to do
            with connection.cursor() as cursor:  # the deadline passes
                cursor.execute("UPDATE learning_submission SET deadline_at = now() - interval '1 second' "
                               "WHERE id = %s", [submission.id])
            [requeued] = heal_pending_gradings().repairs
            assert (requeued.target, requeued.action) == (f"submission:{submission.id}", "requeue")
            wait_until(lambda: Submission.objects.get(id=submission.id).finished, 60,
                       message="the re-enqueued submission to be graded")

    graded = Submission.objects.get(id=submission.id)
    assert (graded.status, graded.enqueues, graded.attempts) == ("passed", 2, 1), worker.output()[-3000:]
    assert graded.grading_attempts.get().isolation == "bubblewrap"


def test_when_the_outbox_gives_up_on_a_grading_the_heal_takes_it_over(
        log_dir: Path, private_redis: RedisServer, bob: User, lena: User) -> None:
    broker_url, pubsub_url = f"{private_redis.url}/0", f"{private_redis.url}/2"
    problem = published(bob, bob, kind=Kind.PROBLEM, title="Add two doses", body="Write add(a, b).")
    submission = services.submit_solution(problem.content_id, lena, SOLUTION)
    with connection.cursor() as cursor:  # every delivery was lost and the outbox dead-lettered it
        cursor.execute("UPDATE outbox_event SET status = 'dead' WHERE task_name IS NOT NULL")
        cursor.execute("UPDATE learning_submission SET deadline_at = now() - interval '1 second' "
                       "WHERE id = %s", [submission.id])
    relay = start_relay(log_dir, REDIS_BROKER_URL=broker_url, REDIS_PUBSUB_URL=pubsub_url)
    worker = start_worker(log_dir, REDIS_BROKER_URL=broker_url, REDIS_PUBSUB_URL=pubsub_url)
    with processes(relay, worker):
        [requeued] = heal_pending_gradings().repairs
        assert (requeued.target, requeued.action) == (f"submission:{submission.id}", "requeue")
        wait_until(lambda: Submission.objects.get(id=submission.id).finished, 60,
                   message="the re-enqueued submission to be graded")
    graded = Submission.objects.get(id=submission.id)
    assert (graded.status, graded.enqueues) == ("passed", 2), worker.output()[-3000:]
    graded = Submission.objects.get(id=submission.id)
    assert (graded.status, graded.enqueues, graded.attempts) == ("passed", 2, 1), worker.output()[-3000:]
    assert graded.grading_attempts.get().isolation == "bubblewrap"
