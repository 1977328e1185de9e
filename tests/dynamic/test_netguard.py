"""The SSRF guard: refused when saved (``check_url``) and at connect time (every connection the
client opens, redirects included), unless the operator allows the host."""

from __future__ import annotations

import pytest
from django.test import override_settings

from dynamic import llm, netguard
from dynamic.demo_model import Behaviour
from dynamic.models import ModelEndpoint
from tests.model_servers import GPT, model_server

REFUSED = [
    "http://127.0.0.1/v1",
    "http://[::1]:8000/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "http://2130706433/v1",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/v1",  # octal
    "http://0x7f.0.0.1/v1",  # hex
    "http://127.1/v1",  # short form
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.0.0.1/v1",
    "http://172.16.5.4/v1",
    "http://192.168.1.10:8000/v1",
    "http://100.64.0.1/v1",  # shared address space (CGNAT)
    "http://0.0.0.0:8000/v1",
    "http://[fd00::1]/v1",  # unique-local
    "http://[fe80::1]/v1",  # link-local
    "http://[::ffff:169.254.169.254]/v1",
    "http://[64:ff9b::a9fe:a9fe]/v1",  # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/v1",  # 6to4 of 127.0.0.1
    "http://localhost:8000/v1",
    "http://metadata.google.internal/computeMetadata/v1/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_it_refuses_private_addresses_in_every_spelling(url: str) -> None:
    with pytest.raises(netguard.UnsafeEndpoint):
        netguard.check_url(url)


@pytest.mark.parametrize("url", ["http://8.8.8.8/v1", "https://[2001:4860:4860::8888]/v1", "https://1.1.1.1:8443/v1"])
def test_it_accepts_public_addresses(url: str) -> None:
    netguard.check_url(url)


@pytest.mark.parametrize(
    "url", ["ftp://8.8.8.8/v1", "file:///etc/passwd", "gopher://8.8.8.8/", "http:///v1", "https://user:pw@8.8.8.8/v1"]
)
def test_it_refuses_other_schemes_hosts_and_credentials(url: str) -> None:
    with pytest.raises(netguard.UnsafeEndpoint):
        netguard.check_url(url)


def test_the_allow_list_takes_exact_hosts_and_ports() -> None:
    with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=["127.0.0.1:8001", "[::1]", "vllm.example.org:8000"]):
        netguard.check_url("http://127.0.0.1:8001/v1")
        netguard.check_url("http://[::1]:9999/v1")
        with pytest.raises(netguard.UnsafeEndpoint):
            netguard.check_url("http://127.0.0.1:5432/v1")  # another port of an allowed host
        with pytest.raises(netguard.UnsafeEndpoint):
            netguard.check_url("http://2130706433:8001/v1")  # the same address spelt otherwise


def _endpoint(url: str, **fields: object) -> ModelEndpoint:
    return ModelEndpoint(name="t", base_url=url, model=GPT, timeout_seconds=5, **fields)


def test_it_refuses_at_connect_time_what_was_allowed_when_saved(db: None) -> None:
    # Saved while the operator allowed it, then the allow-list changed: the connection is refused.
    with model_server(allow=False) as server, pytest.raises(llm.GenerationError) as caught:
        llm.stream_chat(_endpoint(server.url), [{"role": "user", "content": "hi"}])
    assert caught.value.message == "This model endpoint's address is not allowed."
    assert "loopback" in caught.value.detail
    assert server.behaviour.seen_keys == []  # nothing reached the server


def test_a_redirect_to_a_private_address_is_refused(db: None) -> None:
    # The allowed server answers 307 to the metadata address: the client follows, the guard refuses
    # before any connection (no traffic leaves 127.0.0.1).
    behaviour = Behaviour(redirect_to="http://169.254.169.254/latest/meta-data/")
    with model_server(behaviour) as server, pytest.raises(llm.GenerationError) as caught:
        llm.stream_chat(_endpoint(server.url), [{"role": "user", "content": "hi"}])
    assert "169.254.169.254" in caught.value.detail
    assert caught.value.message == "This model endpoint's address is not allowed."


def test_a_redirect_to_another_port_of_an_allowed_host_is_refused(db: None) -> None:
    # Only 127.0.0.1:<first port> is allowed; the redirect goes to a second, real server on another
    # loopback port, which must never be reached.
    with model_server(allow=False) as target:
        behaviour = Behaviour(redirect_to=f"{target.url}/chat/completions")
        with model_server(behaviour) as server, pytest.raises(llm.GenerationError) as caught:
            llm.stream_chat(_endpoint(server.url), [{"role": "user", "content": "hi"}])
        assert target.behaviour.seen_keys == []
    assert "loopback" in caught.value.detail


def test_a_response_over_the_size_cap_is_cut_off(db: None) -> None:
    essay = [{"role": "user", "content": "Write a long essay on the Roman empire."}]
    with (
        model_server() as server,
        override_settings(QUORUM_ENDPOINT_MAX_RESPONSE_BYTES=2048),
        pytest.raises(llm.GenerationError) as caught,
    ):
        llm.stream_chat(_endpoint(server.url), essay)
    assert caught.value.message == "The model's answer was too large and was cut off."
