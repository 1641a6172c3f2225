"""Files jobs write to Django's default storage (the filesystem under MEDIA_ROOT, or whatever
backend STORAGES names)."""

from __future__ import annotations

from django.core.files import File
from django.core.files.storage import default_storage


def save_replacing(name: str, content: File) -> str:
    """Store `content` under exactly `name`, replacing a file already there (an earlier
    delivery's, if it got that far): a redelivered job never leaves a second copy under another
    name. Returns the stored name."""
    default_storage.delete(name)
    stored: str = default_storage.save(name, content)
    return stored
