"""The reputation heal (core/learning/reputation.py), and its nightly schedule: once a day, so
any drift between the incremental points and the truth is repaired and recorded by morning."""

import json

from django.db import migrations, models

SCHEDULE = ("heal_reputation every day", "reputation", 1, "days")


def seed(apps, schema_editor):
    name, heal, every, period = SCHEDULE
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=every, period=period)
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(name=name, defaults={
        "task": "ops.request_heal", "interval": interval, "kwargs": json.dumps({"name": heal}),
        "queue": "batch", "description": f"Records a heal run of {heal} and runs it on the batch queue."})


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SCHEDULE[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('ops', '0005_heal_confirmation'),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AlterField(
            model_name='healrun',
            name='name',
            field=models.CharField(choices=[('search_index', 'Search Index'), ('pending_gradings', 'Pending Gradings'), ('reputation', 'Reputation')], max_length=30),
        ),
        migrations.RunPython(seed, unseed),
    ]
