"""The beat that runs: the leader scheduler of core/platform/beat.py, measured.

After every tick it says whether it leads (ferry_beat_leader), and after every send which
schedule it sent and when (ferry_beat_last_send_timestamp_seconds); core/platform/metrics.py
serves both on BEAT_METRICS_PORT. A separate class, so the leadership logic stays as it is
and its tests need no metrics.
"""

from __future__ import annotations

from typing import Any

from core.platform.beat import LeaderScheduler
from core.platform.metrics import BEAT


class MeasuredLeaderScheduler(LeaderScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        BEAT.leading(False)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            return super().tick(*args, **kwargs)
        finally:
            BEAT.leading(self.leading)

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        # Only a send that reached the broker counts (a failure raises SchedulingError).
        result = super().apply_async(entry, producer, advance, **kwargs)
        BEAT.sent(str(entry.name))
        return result
