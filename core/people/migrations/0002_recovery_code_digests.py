"""Recovery codes stored before they were digested (plain, 8 characters) are replaced by their
digests (16 characters), so no code stays readable in the database. The digest is spelled out
here as core.people.mfa.recovery_digest makes it, so that this migration means the same later."""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.db import migrations
from django.utils.crypto import salted_hmac

PLAIN_LENGTH = 8  # django-otp's StaticToken.random_token(); a digest has 16 characters


def digest(code: str) -> str:
    mac = salted_hmac("ferry.people.recovery-code", code.lower(), secret=settings.SECRET_KEY, algorithm="sha256")
    return base64.b32encode(mac.digest()[:10]).decode().lower()


def digest_plain_codes(apps: Any, schema_editor: Any) -> None:
    token_model = apps.get_model("otp_static", "StaticToken")
    plain = token_model.objects.using(schema_editor.connection.alias).filter(token__regex=rf"^.{{{PLAIN_LENGTH}}}$")
    for token in plain.iterator():
        token.token = digest(token.token)
        token.save(update_fields=["token"])


class Migration(migrations.Migration):

    dependencies = [
        ("people", "0001_initial"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [
        # Not reversible into plain codes: going back leaves the digests, which then match nothing.
        migrations.RunPython(digest_plain_codes, migrations.RunPython.noop),
    ]
