from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from projects.models import ApiToken
from quorum import rows


@cache
def _token_sql() -> str:
    user = get_user_model()
    # Hand-written (quorum.rows): every API request runs it, and the ORM's compilation of the join
    # cost more CPU than the rest of the lookup.
    return (
        f"SELECT {rows.columns(ApiToken, 't')}, {rows.columns(user, 'u')} "  # noqa: S608 - names from the models
        f"FROM {ApiToken._meta.db_table} t JOIN {user._meta.db_table} u ON u.id = t.user_id "
        "WHERE t.key_hash = %s AND t.revoked_at IS NULL"
    )


class HashedTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>`` against ``ApiToken``: the key is hashed before the lookup,
    so the database never holds a usable key."""

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        row = rows.fetch_one(_token_sql(), [ApiToken.hash_key(key)])
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        token = rows.instance(ApiToken, row)
        token.user = rows.instance(get_user_model(), row, rows.width(ApiToken))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        # Touch at most once a minute: a hot token must not become a hot row.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
