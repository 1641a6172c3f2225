"""Seed beat's schedules of the export bundles' expiry (hourly) and of the nightly search quality
scores (03:15 UTC), stored in Postgres by django-celery-beat, editable in the admin."""

from django.db import migrations

EXPIRY = ("learning: expire export bundles every hour", "learning.expire_exports", 60)
QUALITY = ("learning: score search quality nightly", "learning.plan_quality_scores", "15", "3")


def seed(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    name, task, minutes = EXPIRY
    interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
    PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval, "queue": "batch"})
    name, task, minute, hour = QUALITY
    crontab, _ = CrontabSchedule.objects.get_or_create(minute=minute, hour=hour, day_of_week="*", day_of_month="*",
                                                       month_of_year="*", timezone="UTC")
    PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab, "queue": "batch"})


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[EXPIRY[0], QUALITY[0]]).delete()


class Migration(migrations.Migration):
    dependencies = [("learning", "0013_content_quality"),
                    ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(seed, unseed)]
