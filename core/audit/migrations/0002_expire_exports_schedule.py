"""Beat's hourly schedule for audit.expire_exports (editable in the admin: django-celery-beat)."""

from django.db import migrations

SCHEDULE = ("audit: expire history exports", "audit.expire_exports", 3600)


def seed(apps, schema_editor):
    name, task, seconds = SCHEDULE
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=seconds, period="seconds")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
        name=name, defaults={"task": task, "interval": interval})


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SCHEDULE[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0001_history_export"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
