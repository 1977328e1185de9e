from __future__ import annotations

from django.apps import AppConfig


class DynamicConfig(AppConfig):
    name = "dynamic"
    verbose_name = "Dynamic labeling"
