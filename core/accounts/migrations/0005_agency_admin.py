"""The agency-admin role's group, and each agency's second-factor policy."""

import django.contrib.postgres.fields
from django.db import migrations, models

import core.accounts.models


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="agency_admin")


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="agency_admin").delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0004_user_sessions")]
    operations = [
        migrations.AddField(
            model_name="tenant",
            name="mfa_roles",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=32), blank=True,
                default=core.accounts.models.default_mfa_roles, size=None),
        ),
        migrations.RunPython(create_group, remove_group),
    ]
