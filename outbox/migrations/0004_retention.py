"""Retention (adr/0016): BRIN indexes for deletes by age, and beat's hourly schedule for
outbox.enforce_retention (editable in the admin: django-celery-beat)."""

import django.contrib.postgres.indexes
from django.conf import settings
from django.db import migrations

SCHEDULE = ("outbox: enforce retention", "outbox.enforce_retention", 3600)


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
        ('outbox', '0003_ordering_and_fairness'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddIndex(
            model_name='deadletter',
            index=django.contrib.postgres.indexes.BrinIndex(fields=['created_at'], name='outbox_deadletter_created'),
        ),
        migrations.AddIndex(
            model_name='deliveryattempt',
            index=django.contrib.postgres.indexes.BrinIndex(fields=['started_at'], name='outbox_attempt_started'),
        ),
        migrations.AddIndex(
            model_name='inboxentry',
            index=django.contrib.postgres.indexes.BrinIndex(fields=['processed_at'], name='outbox_inbox_processed'),
        ),
        migrations.RunPython(seed, unseed),
    ]
