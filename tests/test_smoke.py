from __future__ import annotations

import pytest
from django.db import connection

from tests.factories import ItemFactory


@pytest.mark.django_db
def test_it_migrates_and_creates_an_item() -> None:
    item = ItemFactory()
    assert item.pk is not None
    assert connection.vendor in {"postgresql", "sqlite"}
