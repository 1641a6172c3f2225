from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.accounts.models import Tenant
from core.ops.models import HealRun
from core.ops.selectors import heal_run_view
from core.ops.services import execute_heal, finish_heal_run, start_command_run, verify_heal_run
from core.platform.heals import HEALS

# Lines of a dry run's listing printed (the run keeps up to DETAILS_MAX in its details).
LIST_MAX = 50


def resolve_tenant(value: str | None) -> Tenant | None:
    """--tenant accepts a slug or an id; an unknown one is an error, never 'all tenants'."""
    if value is None:
        return None
    tenant = Tenant.objects.filter(slug=value).first()
    if tenant is None and value.isdigit():
        tenant = Tenant.objects.filter(id=int(value)).first()
    if tenant is None:
        raise CommandError(f"--tenant {value!r}: no tenant with that slug or id")
    return tenant


class Command(BaseCommand):
    help = ("Run a heal job now, in this process, and record the run: search_index (live content vs the "
            "search index) or pending_gradings (submissions stuck past their deadline).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", choices=sorted(HEALS))
        parser.add_argument("--dry-run", action="store_true", help="report what would be repaired; change nothing")
        parser.add_argument("--tenant", help="only this tenant (slug or id); default: every tenant")
        parser.add_argument("--confirm", type=float, default=0, metavar="SECONDS",
                            help="then wait up to SECONDS for the repairs to take effect (workers run them) "
                                 "and report how many did")
        parser.add_argument("--json", action="store_true", help="print the run as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = resolve_tenant(options["tenant"])
        run = start_command_run(options["name"], dry_run=options["dry_run"],
                                tenant_id=tenant.id if tenant else None)
        result, error = execute_heal(run)
        run = finish_heal_run(run.id, result, error)
        if options["confirm"] > 0 and run.status == HealRun.Status.SUCCEEDED and not run.dry_run and run.repaired:
            deadline = time.monotonic() + options["confirm"]
            run = verify_heal_run(run)
            while run.confirmed < len(run.details) and time.monotonic() < deadline:
                time.sleep(0.5)
                run = verify_heal_run(run)
        if options["json"]:
            self.stdout.write(json.dumps(heal_run_view(run).to_dict(), default=str))
        else:
            self._report(run)
        if run.status == HealRun.Status.FAILED:
            raise CommandError(f"heal {run.name} failed: {run.error}")

    def _report(self, run: HealRun) -> None:
        verb = "would repair" if run.dry_run else "repaired"
        scope = f"tenant {run.tenant_id}" if run.tenant_id else "all tenants"
        self.stdout.write(f"heal {run.name} (run {run.id}, {scope}{', dry run' if run.dry_run else ''}): "
                          f"examined {run.examined}, {verb} {run.repaired}, errors {run.errors}")
        if not run.dry_run and run.repaired:
            state = "final" if run.verified_at else "still being checked (ops.verify_heal_runs, every minute)"
            self.stdout.write(f"  confirmed {run.confirmed} of {run.repaired} repairs took effect ({state})")
        for tenant_id, figures in sorted(run.by_tenant.items()):
            self.stdout.write(f"  tenant {tenant_id}: examined {figures['examined']}, {verb} {figures['repaired']}")
        if run.dry_run:
            for item in run.details[:LIST_MAX]:
                self.stdout.write(f"  {item['action']} {item['target']} (tenant {item['tenant_id']}: {item['gap']})")
            if run.repaired > LIST_MAX:
                self.stdout.write(f"  … and {run.repaired - LIST_MAX} more")
