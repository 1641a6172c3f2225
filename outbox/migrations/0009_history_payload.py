"""A GIN index on the history's payloads, for the auditors' payload filter (adr/0024).

CREATE INDEX on a partitioned table cannot be CONCURRENTLY: on a history of a year, it would
build for many minutes while holding a lock that keeps the mover's INSERTs waiting. So each
existing partition's index is built first, CONCURRENTLY (the mover goes on), under the name
PostgreSQL would give it; then the file's CREATE INDEX on outbox_history finds them and attaches
them (moments), building only for a partition made meanwhile. A build that failed earlier
leaves an INVALID index, which PostgreSQL would attach as it is (and the parent would be invalid
too): it is dropped and built again. Hence a migration outside a transaction.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from psycopg import sql

from outbox.queries import SQL_DIR

PARTITIONS = """
SELECT c.relname, ix.indisvalid
FROM pg_partition_tree('outbox_history') p
JOIN pg_class c ON c.oid = p.relid
LEFT JOIN pg_class i ON i.relname = c.relname || '_payload_idx' AND i.relnamespace = c.relnamespace
LEFT JOIN pg_index ix ON ix.indexrelid = i.oid
WHERE p.isleaf
ORDER BY c.relname
"""
DROP_INVALID = "DROP INDEX CONCURRENTLY {index}"
BUILD = "CREATE INDEX CONCURRENTLY {index} ON {partition} USING gin (payload jsonb_path_ops)"


def build_partition_indexes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(PARTITIONS)
        for partition, valid in cursor.fetchall():
            index = sql.Identifier(f"{partition}_payload_idx")
            if valid is False:
                cursor.execute(sql.SQL(DROP_INVALID).format(index=index))
            if not valid:
                cursor.execute(sql.SQL(BUILD).format(index=index, partition=sql.Identifier(partition)))


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('outbox', '0008_metric_rollups'),
    ]

    operations = [
        migrations.RunPython(build_partition_indexes, migrations.RunPython.noop, elidable=False),
        migrations.RunSQL((SQL_DIR / "0005_history_payload.sql").read_text(), "DROP INDEX outbox_history_payload"),
    ]
