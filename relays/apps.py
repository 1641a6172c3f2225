from __future__ import annotations

from django.apps import AppConfig


class RelaysConfig(AppConfig):
    name = "relays"
