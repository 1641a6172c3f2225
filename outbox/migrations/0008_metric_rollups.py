"""The outbox's figures over time: rollups per minute and per hour, written by the mover, and
beat's schedule recounting dead letters into them (adr/0023)."""

from django.db import migrations

from outbox.queries import SQL_DIR

SCHEDULE = ("outbox: count dead letters into the figures", "outbox.count_dead_letters", 60)

UNDO_SQL = """
DROP TABLE outbox_metric_state;
DROP AGGREGATE outbox_hist_sum(integer[]);
DROP FUNCTION outbox_hist_add(integer[], integer[]);
DROP FUNCTION outbox_metric_bucket(double precision);
DROP TABLE outbox_metric_hour;
DROP TABLE outbox_metric_minute;
"""


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
        ('outbox', '0007_dead_letter_discard'),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunSQL((SQL_DIR / "0006_metric_rollups.sql").read_text(), UNDO_SQL),
        migrations.RunPython(seed, unseed),
    ]
