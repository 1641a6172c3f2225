"""Heal runs count the repairs that took effect (confirmed, verified_at), checked every minute
by beat's ops.verify_heal_runs (schedule seeded here, editable in the admin)."""

from django.db import migrations, models

SCHEDULE = ("verify heal runs every minute", "ops.verify_heal_runs", 60)


def seed(apps, schema_editor):
    name, task, seconds = SCHEDULE
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=seconds, period="seconds")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(name=name, defaults={
        "task": task, "interval": interval, "queue": "batch",
        "description": "Counts the repairs of recent heal runs that took effect."})


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SCHEDULE[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('ops', '0004_heal_run_lifecycle'),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name='healrun',
            name='confirmed',
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name='healrun',
            name='verified_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(seed, unseed),
    ]
