"""An SMTP handler for tests that kill a worker in the middle of a send: it keeps each message
(a maildir, like aiosmtpd's Mailbox) and only then waits before answering, so the sending
worker is still waiting for the server's "250" when the test kills it.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c tests.support.slow_smtp.SlowMailbox MAILDIR SECONDS
"""

from __future__ import annotations

import asyncio
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from aiosmtpd.handlers import Mailbox


class SlowMailbox(Mailbox):
    def __init__(self, mail_dir: str, delay_s: float = 30.0) -> None:
        super().__init__(Path(mail_dir))
        self.delay_s = delay_s

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)  # stored
        await asyncio.sleep(self.delay_s)
        return str(answer)

    @classmethod
    def from_cli(cls, parser: ArgumentParser, *args: str) -> SlowMailbox:
        if not 1 <= len(args) <= 2:
            parser.error("SlowMailbox takes MAILDIR [SECONDS]")
        return cls(args[0], float(args[1]) if len(args) == 2 else 30.0)
