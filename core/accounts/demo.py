"""Demo tenants and users, seeded by `manage.py seed_demo` (the start command runs it)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction

from core.accounts.models import Tenant, User
from core.platform.roles import Role

DEMO_PASSWORD = "ferry-demo"  # noqa: S105 - printed by `make up`; demo data only


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    tenant_slug: str | None
    roles: tuple[Role, ...]
    staff: bool = False


DEMO_TENANTS = {"harbor": "Harbor Home Health", "northside": "Northside Care"}
DEMO_TIME_ZONES = {"harbor": "America/New_York", "northside": "America/Chicago"}

DEMO_USERS = (
    DemoUser("alice", "Alice Moreau", "harbor", (Role.DISPATCHER,)),
    DemoUser("bob", "Bob Lindqvist", "harbor", (Role.REVIEWER,)),
    DemoUser("ruth", "Ruth Abara", "harbor", (Role.REVIEWER,)),  # writes Harbor's demo content
    DemoUser("lena", "Lena Okafor", "harbor", (Role.LEARNER,)),
    DemoUser("milo", "Milo Petrov", "harbor", (Role.LEARNER,)),  # hands in a copy of lena's solution
    DemoUser("audrey", "Audrey Chen", "harbor", (Role.AUDITOR,)),
    DemoUser("oscar", "Oscar Haddad", "harbor", (Role.OPS,)),
    DemoUser("hana", "Hana Sato", "harbor", (Role.AGENCY_ADMIN,)),
    DemoUser("carol", "Carol Novak", "northside", (Role.DISPATCHER, Role.REVIEWER, Role.LEARNER)),
    DemoUser("nora", "Nora Fischer", "northside", (Role.REVIEWER,)),  # writes Northside's demo content
    DemoUser("nadia", "Nadia Berg", "northside", (Role.AGENCY_ADMIN,)),
    DemoUser("admin", "Platform Admin", None, (), staff=True),
)


@transaction.atomic
def seed_tenants_and_users() -> dict[str, Tenant]:
    """Create (or reset to their demo state) the demo tenants and users. Idempotent."""
    tenants = {
        slug: Tenant.objects.update_or_create(slug=slug, defaults={"name": name,
                                                                   "time_zone": DEMO_TIME_ZONES[slug]})[0]
        for slug, name in DEMO_TENANTS.items()
    }
    for demo in DEMO_USERS:
        first, _, last = demo.full_name.partition(" ")
        user, _ = User.objects.update_or_create(
            username=demo.username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{demo.username}@example.com",
                "tenant": tenants[demo.tenant_slug] if demo.tenant_slug else None,
                "is_staff": demo.staff,
                "is_superuser": demo.staff,
                "is_active": True,
            },
        )
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
        user.groups.set(Group.objects.filter(name__in=[role.value for role in demo.roles]))
    return tenants


def describe_logins() -> list[str]:
    lines = []
    for demo in DEMO_USERS:
        where = DEMO_TENANTS[demo.tenant_slug] if demo.tenant_slug else "platform staff (admin)"
        roles = ", ".join(demo.roles) or "staff"
        lines.append(f"{demo.username:<8} {DEMO_PASSWORD}   {roles:<32} {where}")
    return lines
