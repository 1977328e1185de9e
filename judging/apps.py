from __future__ import annotations

from django.apps import AppConfig


class JudgingConfig(AppConfig):
    name = "judging"
    verbose_name = "Model judges"

    def ready(self) -> None:
        from judging import uses_connect

        uses_connect.connect()
