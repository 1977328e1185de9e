"""``manage.py runserver`` (``make run``) answers without Nagle's delay (quorum/management)."""

from __future__ import annotations

import socket

from django.core.management import get_commands
from django.core.servers.basehttp import WSGIRequestHandler

from quorum.management.commands.runserver import NoDelayWSGIServer


def test_runserver_is_quorums_own() -> None:
    assert get_commands()["runserver"] == "quorum"


def test_it_turns_nagle_off_on_every_connection() -> None:
    server = NoDelayWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5):
            connection, _address = server.get_request()
            with connection:
                assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        server.server_close()
