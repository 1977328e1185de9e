"""``manage.py serve_demo_model``: the demo replay model behind the demo's dynamic stream.

An OpenAI-compatible server on 127.0.0.1:8001 (``--port``) that answers from the AlpacaEval
outputs in the shared data, word by word. It is a replay, not a language model: see
``dynamic.demo_model``. ``make run`` starts it in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dynamic.demo_model import DATA_FILE, MODELS, Behaviour, DemoModelServer, load_corpus


class Command(BaseCommand):
    help = "Serves the demo replay model (OpenAI-compatible, answers from AlpacaEval) on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (printed).")
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default: loopback only).")
        parser.add_argument("--token-delay", type=float, default=0.03, help="Seconds between streamed words.")
        parser.add_argument("--first-token-delay", type=float, default=0.3, help="Seconds before the first word.")
        parser.add_argument("--data-dir", default="", help="Folder with the AlpacaEval file (QUORUM_DEMO_DATA_DIR).")

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = Path(options["data_dir"] or settings.QUORUM_DEMO_DATA_DIR)
        if not (data_dir / DATA_FILE).is_file():
            raise CommandError(f"Demo data not found: {data_dir / DATA_FILE} (set QUORUM_DEMO_DATA_DIR).")
        corpus = load_corpus(data_dir)
        corpus.nearest("warm up")  # build the index before the first request, not during it
        behaviour = Behaviour(token_delay=options["token_delay"], first_token_delay=options["first_token_delay"])
        try:
            server = DemoModelServer((options["host"], options["port"]), corpus, behaviour)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {options['host']}:{options['port']}: {exc}") from None
        self.stdout.write(
            f"Demo replay model on {server.url} — not a real model: it replays AlpacaEval answers "
            f"to the nearest instruction. Models: {', '.join(MODELS)}.",
        )
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
