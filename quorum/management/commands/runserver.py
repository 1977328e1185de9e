"""``manage.py runserver`` (and so ``make run``): Django's development server, static files
included, that sends each response without Nagle's delay.

The server writes a response's headers and its body in two small TCP segments. With Nagle's
algorithm on, the body waits until the client acknowledges the headers, and clients delay that
acknowledgement (40 ms on Linux): every response took 40 ms longer than its work, which capped the
embedded mode at a few dozen requests a second however fast the view was. gunicorn sets
``TCP_NODELAY`` itself.
"""

from __future__ import annotations

import socket
from typing import Any

from django.contrib.staticfiles.management.commands.runserver import Command as StaticFilesRunserver
from django.core.servers.basehttp import WSGIServer


class NoDelayWSGIServer(WSGIServer):
    def get_request(self) -> tuple[Any, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class Command(StaticFilesRunserver):
    server_cls = NoDelayWSGIServer
