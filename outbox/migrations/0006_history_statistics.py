"""Statistics telling the planner each actor belongs to one agency, on every history partition
(adr/0021)."""

from django.db import migrations

from outbox.queries import SQL_DIR

UNDO_SQL = """
DO $$ DECLARE s record; BEGIN
    FOR s IN SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE 'outbox_history_%_tenant_actor' LOOP
        EXECUTE format('DROP STATISTICS %I', s.stxname);
    END LOOP;
END $$;
DROP FUNCTION outbox_history_statistics(regclass);
CREATE OR REPLACE FUNCTION outbox_ensure_partitions(months_back integer, months_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    month date;
    name text;
    created integer := 0;
BEGIN
    FOR i IN -months_back..months_ahead LOOP
        month := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
        name := 'outbox_history_y' || to_char(month, 'YYYY') || 'm' || to_char(month, 'MM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF outbox_history FOR VALUES FROM (%L) TO (%L)',
                name, month::text || ' 00:00:00+00',
                (month + interval '1 month')::date::text || ' 00:00:00+00');
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('outbox', '0005_history_audit_order'),
    ]

    operations = [
        migrations.RunSQL((SQL_DIR / "0004_history_statistics.sql").read_text(), UNDO_SQL),
    ]
