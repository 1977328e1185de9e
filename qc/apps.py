from __future__ import annotations

from django.apps import AppConfig


class QcConfig(AppConfig):
    name = "qc"
    verbose_name = "Quality control"

    def ready(self) -> None:
        from qc import connect  # the room's functions on the hooks of the rooms below

        connect.connect()
