"""The learning JSON API (mounted by core/api.py)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["learning"])
