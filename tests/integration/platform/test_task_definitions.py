"""Every task follows the hygiene defaults of core/config/celery.py."""

from __future__ import annotations

from core.config.celery import app
from core.platform.tasks import QUEUES, ROUTES


def project_tasks() -> dict[str, object]:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_registered_task_acks_late_has_time_limits_and_a_real_queue() -> None:
    declared_queues = {queue.name for queue in app.conf.task_queues}
    assert declared_queues == set(QUEUES)
    tasks = project_tasks()
    assert tasks, "no project tasks registered"
    for name, task in tasks.items():
        soft = getattr(task, "soft_time_limit", None) or app.conf.task_soft_time_limit
        hard = getattr(task, "time_limit", None) or app.conf.task_time_limit
        acks_late = task.acks_late if task.acks_late is not None else app.conf.task_acks_late  # type: ignore[attr-defined]
        assert acks_late, f"{name} does not ack late"
        assert soft, f"{name} has no soft time limit"
        assert hard, f"{name} has no hard time limit"
        assert soft < hard, f"{name}: soft {soft} must be below hard {hard}"
        assert hard < app.conf.broker_transport_options["visibility_timeout"], name
        assert ROUTES.get(name) in declared_queues, f"{name} was not defined with ferry_task"
        assert task.max_retries is not None, f"{name} retries forever"  # type: ignore[attr-defined]
        assert task.retry_backoff, f"{name} retries without backoff"  # type: ignore[attr-defined]
        assert task.ignore_result or app.conf.task_ignore_result  # type: ignore[attr-defined]


def test_messages_are_json_only_and_prefetch_is_one() -> None:
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_reject_on_worker_lost is True


def test_a_task_sent_by_name_is_routed_to_its_declared_queue() -> None:
    router = app.amqp.router
    project_tasks()
    route = router.route({}, "tests.record_tenant")
    assert route["queue"].name == "default"
