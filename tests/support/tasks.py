"""Tasks used only by tests (loaded by workers started with tests.settings)."""

from __future__ import annotations

import os
import time
from typing import Any

from core.platform.tasks import ferry_task
from core.platform.tenancy import current_tenant_id
from outbox.consumers import OutboxTask
from tests.support.models import Effect

seen_tenants: list[int | None] = []


@ferry_task(name="tests.record_tenant", queue="default", soft_time_limit=5, time_limit=10)
def record_tenant(tenant_id: int | None, fail: bool = False) -> None:
    seen_tenants.append(current_tenant_id())
    if fail:
        raise ValueError("boom")


@ferry_task(name="tests.record_effect", queue="default", soft_time_limit=20, time_limit=30,
            base=OutboxTask, bind=True, max_retries=2, retry_backoff=1, retry_jitter=False)
def record_effect(self: Any, tenant_id: int | None, key: str, fail_attempts: int = 0,
                  sleep_s: float = 0, die_attempts: int = 0) -> None:
    """Write one Effect row for `key`. Fails its first `fail_attempts` executions; kills its
    own worker process (SIGKILL) in its first `die_attempts` executions, after `sleep_s`."""
    attempt = self.attempt
    if sleep_s:
        time.sleep(sleep_s)
    if attempt <= die_attempts:
        os.kill(os.getpid(), 9)
    if attempt <= fail_attempts:
        raise RuntimeError(f"failing on purpose (attempt {attempt})")
    with self.effects():
        Effect.objects.create(key=key, event_id=self.request.id, tenant_id=current_tenant_id())
