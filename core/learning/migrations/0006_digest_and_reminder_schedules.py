"""Seed beat's schedules of the digest planner and the stale-draft reminders (stored in Postgres
by django-celery-beat, editable in the admin; core/learning/tasks.py)."""

from django.db import migrations

SCHEDULES = [
    # (name, task, every minutes). Digests go out at each person's local morning, so the planner
    # looks every 15 minutes: a digest is at most that late (docs/learning.md).
    ("learning: plan email digests every 15 minutes", "learning.plan_digests", 15),
    ("learning: remind stale drafts every hour", "learning.remind_stale_drafts", 60),
]


def seed(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minutes in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval, "queue": "batch"})


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[name for name, _task, _minutes in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("learning", "0005_digests_and_draft_reminders"),
                    ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(seed, unseed)]
