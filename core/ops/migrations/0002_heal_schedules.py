"""Seed the heal jobs' periodic schedules (stored in Postgres by django-celery-beat, editable
in the admin). Each sends ops.request_heal, which records a HealRun and runs it through the
outbox (core/ops/tasks.py)."""

import json

from django.db import migrations

SCHEDULES = [
    # (name, heal, every, period)
    ("heal_search_index every 10 minutes", "search_index", 10, "minutes"),
    # Grading deadlines are minutes long (GRADING_DEADLINE_S), so stuck submissions are looked
    # for more often than the index.
    ("heal_pending_gradings every 2 minutes", "pending_gradings", 2, "minutes"),
]


def seed(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, heal, every, period in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.get_or_create(name=name, defaults={
            "task": "ops.request_heal", "interval": interval, "kwargs": json.dumps({"name": heal}),
            "queue": "batch", "description": f"Records a heal run of {heal} and runs it on the batch queue.",
        })


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[name for name, _heal, _every, _period in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(seed, unseed)]
