"""The auditors' history in (created_at, id) order, an index per filter (adr/0021)."""

from django.db import migrations

from outbox.queries import SQL_DIR

UNDO_SQL = """
DROP INDEX outbox_history_tenant_time;
DROP INDEX outbox_history_tenant_type;
DROP INDEX outbox_history_tenant_aggregate;
DROP INDEX outbox_history_tenant_actor;
DROP INDEX outbox_history_tenant_unusual_status;
CREATE INDEX outbox_history_tenant_aggregate ON outbox_history (tenant_id, aggregate_type, aggregate_id, id);
CREATE INDEX outbox_history_tenant_type ON outbox_history (tenant_id, event_type, id);
CREATE INDEX outbox_history_tenant ON outbox_history (tenant_id, id);
CREATE INDEX outbox_history_created ON outbox_history USING brin (created_at);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('outbox', '0004_retention'),
    ]

    operations = [
        migrations.RunSQL((SQL_DIR / "0003_history_audit_order.sql").read_text(), UNDO_SQL),
    ]
