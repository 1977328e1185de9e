from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
application = get_wsgi_application()
# Import every view module now rather than on the first request: the URLconf pulls in heavy
# libraries (scipy for QC, the model clients) that cost a worker seconds of CPU, which would
# otherwise stall that worker's first requests. Also makes gunicorn --preload share them.
get_resolver().url_patterns  # noqa: B018 - evaluated for its side effect
