# The lifecycle columns of outbox/jobs.py. Runs still running keep the limit they had: their
# start plus 660 s (a task's) or 3600 s (a command's).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ops', '0003_healrun_tenant_no_own_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='healrun',
            name='attempts',
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name='healrun',
            name='deadline_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(
            "UPDATE ops_healrun SET attempts = 1, deadline_at = started_at + CASE WHEN trigger = 'command' "
            "THEN interval '3600 seconds' ELSE interval '660 seconds' END WHERE status = 'running'",
            migrations.RunSQL.noop,
        ),
    ]
