"""Seed the outbox's periodic schedules (editable in the admin: django-celery-beat)."""

from django.db import migrations

SCHEDULES = [
    # (name, task, every seconds)
    ("outbox: redeliver stalled events", "outbox.sweep_stalled", 60),
    ("outbox: create history partitions ahead", "outbox.ensure_partitions", 24 * 3600),
]


def seed(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval})


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[name for name, _task, _seconds in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("outbox", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(seed, unseed)]
