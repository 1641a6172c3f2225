"""The read-only ops role's group; a second factor for it wherever ops need one."""

from django.db import migrations


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="ops_viewer")
    # Agencies that require a second factor of ops require it of those who see what ops see.
    for tenant in apps.get_model("core", "Tenant").objects.filter(mfa_roles__contains=["ops"]):
        if "ops_viewer" not in tenant.mfa_roles:
            tenant.mfa_roles = [*tenant.mfa_roles, "ops_viewer"]
            tenant.save(update_fields=["mfa_roles"])


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="ops_viewer").delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0006_time_zones")]
    operations = [migrations.RunPython(create_group, remove_group)]
