# The lifecycle columns of outbox/jobs.py: a claimed event and a deadline replace the time of
# the last status change. Active jobs keep the deadline they had (last change + 1800 s, the
# default OPTIMIZE_STALE_AFTER_S).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dispatch', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='optimizejob',
            name='claimed_event',
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='optimizejob',
            name='deadline_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(
            "UPDATE dispatch_optimizejob SET deadline_at = status_changed_at + interval '1800 seconds' "
            "WHERE status IN ('queued', 'running')",
            migrations.RunSQL.noop,
        ),
        migrations.RemoveField(
            model_name='optimizejob',
            name='status_changed_at',
        ),
    ]
