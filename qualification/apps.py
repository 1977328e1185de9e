from __future__ import annotations

from django.apps import AppConfig


class QualificationConfig(AppConfig):
    name = "qualification"
    verbose_name = "Qualification tests"

    def ready(self) -> None:
        from qualification import connect  # the room's functions on the hooks of the rooms below

        connect.connect()
