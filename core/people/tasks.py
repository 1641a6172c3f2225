"""Mail tasks: thin adapters from account events to SMTP (core/people/mail.py).

The mail is sent inside `self.effects()`, before the inbox row commits: a failed send rolls
back and is retried through the outbox; a worker killed between the send and the commit
sends it again (at-least-once, like every effect that leaves Postgres).
"""

from __future__ import annotations

import structlog

from core.people import mail
from core.platform.tasks import ferry_task
from outbox.consumers import OutboxTask, PermanentFailure

log = structlog.get_logger(__name__)


@ferry_task(name="people.send_invitation", queue="default", soft_time_limit=30, time_limit=45,
            base=OutboxTask, bind=True)
def send_invitation(self: OutboxTask, tenant_id: int | None, invitation_id: int) -> bool:
    """Mail the invitation's link; False if it no longer waits for an answer."""
    if tenant_id is None:
        raise PermanentFailure("an invitation belongs to an agency; this event has none")
    with self.effects():
        message = mail.invitation_message(int(invitation_id), tenant_id)
        if message is not None:
            message.send()
    log.info("people.invitation_mailed", invitation_id=invitation_id, sent=message is not None)
    return message is not None


@ferry_task(name="people.send_password_reset", queue="interactive", soft_time_limit=30, time_limit=45,
            base=OutboxTask, bind=True)
def send_password_reset(self: OutboxTask, tenant_id: int | None, user_id: int) -> bool:
    """Mail a password-reset link; False if the person can no longer reset (deactivated)."""
    with self.effects():
        message = mail.password_reset_message(int(user_id))
        if message is not None:
            message.send()
    log.info("people.password_reset_mailed", user_id=user_id, sent=message is not None)
    return message is not None
