from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.test.utils import override_settings

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _login(client: Client, username: str, password: str, ip: str = "10.0.0.1") -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_it_shows_the_login_page(client: Client) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    assert b"Sign in to Quorum" in response.content


def test_it_redirects_anonymous_users_to_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/")


def test_it_logs_in_and_goes_home(client: Client) -> None:
    user = UserFactory.create()
    response = _login(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_it_rejects_a_wrong_password(client: Client) -> None:
    user = UserFactory.create()
    response = client.post("/login/", {"username": user.username, "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


@override_settings(LOGIN_RATE_LIMIT=3)
def test_it_blocks_after_too_many_failures_even_with_the_right_password(client: Client) -> None:
    user = UserFactory.create()
    for _ in range(3):
        assert _login(client, user.username, "wrong").status_code == 200
    response = _login(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_RATE_LIMIT=3)
def test_it_counts_per_ip_and_username(client: Client) -> None:
    user, other = UserFactory.create(), UserFactory.create()
    for _ in range(3):
        _login(client, user.username, "wrong")
    # Same IP, another account: not blocked. Another IP, same account: not blocked.
    assert _login(Client(), other.username, PASSWORD).status_code == 302
    assert _login(Client(), user.username, PASSWORD, ip="10.0.0.2").status_code == 302
    # The username is compared case-insensitively, so changing case is no way around it.
    assert _login(Client(), user.username.upper(), PASSWORD).status_code == 429


@override_settings(LOGIN_RATE_LIMIT=3)
def test_it_clears_the_count_after_a_successful_login(client: Client) -> None:
    user = UserFactory.create()
    for _ in range(2):
        _login(client, user.username, "wrong")
    assert _login(client, user.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        _login(client, user.username, "wrong")
    assert _login(client, user.username, PASSWORD).status_code == 302


@override_settings(LOGIN_RATE_LIMIT=2)
def test_it_rate_limits_the_admin_login_too(client: Client) -> None:
    staff = UserFactory.create(is_staff=True)
    for _ in range(2):
        client.post("/admin/login/", {"username": staff.username, "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
    response = client.post("/admin/login/", {"username": staff.username, "password": PASSWORD}, REMOTE_ADDR="10.0.0.1")
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_it_logs_out_with_post_only(client: Client) -> None:
    client.force_login(UserFactory.create())
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_it_sends_a_signed_in_user_from_login_to_home(client: Client) -> None:
    client.force_login(UserFactory.create())
    response = client.get("/login/")
    assert response.status_code == 302


def test_it_lets_a_user_change_their_password(client: Client) -> None:
    user = UserFactory.create()
    client.force_login(user)
    assert client.get("/account/password/").status_code == 200
    response = client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-better-passphrase",
            "new_password2": "a-much-better-passphrase",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-much-better-passphrase")


def test_it_sends_the_csp_header_and_no_inline_script(client: Client) -> None:
    response = client.get("/login/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    body = response.content.decode()
    assert "<script>" not in body
    assert " style=" not in body
    assert "hx-on" not in body
    assert '"includeIndicatorStyles": false' in body


def test_it_says_how_to_create_the_first_account_when_there_are_none(client: Client) -> None:
    response = client.get("/login/")
    assert b"manage.py createsuperuser" in response.content
    assert b"make run" in response.content


def test_it_sends_people_to_their_pm_once_accounts_exist(client: Client) -> None:
    UserFactory.create()
    response = client.get("/login/")
    assert b"createsuperuser" not in response.content
    assert b"Accounts are created by a project manager" in response.content


def test_the_csp_header_is_the_whole_policy_on_every_kind_of_response(client: Client) -> None:
    """django-csp sends the same policy the hand-written middleware sent, on pages, API answers,
    redirects and errors alike."""
    expected = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
    user = UserFactory.create()
    responses = [client.get("/login/"), client.get("/"), client.get("/api/projects/")]
    client.force_login(user)
    responses += [client.get("/"), client.get("/streams/999999/")]
    assert [r.status_code for r in responses] == [200, 302, 401, 200, 404]
    for response in responses:
        parts = sorted(p.strip() for p in response["Content-Security-Policy"].split(";"))
        assert parts == sorted(p.strip() for p in expected.split(";"))
