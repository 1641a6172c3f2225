from django.db import migrations, models

from outbox.queries import SQL_DIR

UNDO_SQL = """
DROP VIEW outbox_log;
DROP INDEX outbox_event_claim;
CREATE INDEX outbox_event_claim ON outbox_event (priority, id) WHERE status = 'pending';
DROP TABLE outbox_key;
ALTER TABLE outbox_event DROP COLUMN ordering_key, DROP COLUMN key_seq, DROP COLUMN key_holds;
ALTER TABLE outbox_history DROP COLUMN ordering_key, DROP COLUMN key_seq, DROP COLUMN key_holds;
CREATE VIEW outbox_log AS SELECT * FROM outbox_event UNION ALL SELECT * FROM outbox_history;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('outbox', '0002_periodic_tasks'),
    ]

    operations = [
        migrations.RunSQL((SQL_DIR / "0002_ordering_and_fairness.sql").read_text(), UNDO_SQL),
        migrations.AddField(model_name='outboxevent', name='ordering_key',
                            field=models.CharField(max_length=200, null=True)),
        migrations.AddField(model_name='outboxevent', name='key_seq', field=models.BigIntegerField(null=True)),
        migrations.AddField(model_name='outboxevent', name='key_holds', field=models.BooleanField(null=True)),
    ]
