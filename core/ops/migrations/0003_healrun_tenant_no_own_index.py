"""The tenant foreign key of heal runs has no index of its own: ops_healrun_tenant (tenant,
-requested_at) covers every lookup by tenant."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0002_role_groups'),
        ('ops', '0002_heal_schedules'),
    ]

    operations = [
        migrations.AlterField(
            model_name='healrun',
            name='tenant',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.tenant'),
        ),
    ]
