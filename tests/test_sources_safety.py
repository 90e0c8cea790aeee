"""Tests for bot.sources.safety: feed URLs must not point into our own network.

Only literal addresses and names the local resolver answers without DNS ('localhost', numeric
forms) are resolved for real; other answers come from a fake getaddrinfo.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest

from bot.errors import FetchError
from bot.sources.safety import address_problem, check_url_allowed, check_url_allowed_async

BLOCKED = [
    ("http://127.0.0.1/feed", "a loopback address"),
    ("http://127.8.9.10:8080/feed", "a loopback address"),
    ("http://localhost/feed", "a loopback address"),
    ("http://LOCALHOST:6379/", "a loopback address"),
    ("http://2130706433/", "a loopback address"),  # 127.0.0.1 as one decimal number
    ("http://0x7f.1/", "a loopback address"),  # and in inet_aton's shorthand
    ("http://10.0.0.5/rss", "a private address"),
    ("http://172.16.3.4/rss", "a private address"),
    ("http://192.168.1.1/rss", "a private address"),
    ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
    ("http://0.0.0.0/", "an unspecified address"),
    ("http://224.0.0.251/", "a multicast address"),
    ("http://100.64.0.1/", "a non-public address"),  # carrier-grade NAT
    ("http://[::1]/feed", "a loopback address"),
    ("http://[::]/feed", "an unspecified address"),
    ("http://[fe80::1]/feed", "a link-local address"),
    ("http://[fc00::1]/feed", "a private address"),
    ("http://[ff02::1]/feed", "a multicast address"),
    ("http://[::ffff:127.0.0.1]/feed", "a loopback address"),  # IPv4-mapped IPv6
    ("http://[::ffff:10.1.2.3]/feed", "a private address"),
    ("http://[::ffff:169.254.169.254]/", "a link-local address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "a link-local address"),  # NAT64 of 169.254.169.254
    ("http://[2002:7f00:1::1]/", "a loopback address"),  # 6to4 of 127.0.0.1
]

ALLOWED = [
    "http://8.8.8.8/feed",
    "https://1.1.1.1:8443/rss.xml",
    "https://[2001:4860:4860::8888]/feed",
    "http://[::ffff:8.8.8.8]/feed",
]


@pytest.mark.parametrize(("url", "kind"), BLOCKED)
def test_non_public_addresses_are_blocked(url: str, kind: str) -> None:
    """Loopback, private, link-local, multicast, unspecified and mapped forms are refused."""
    with pytest.raises(FetchError) as caught:
        check_url_allowed(url, allow_private=False)
    message = str(caught.value)
    assert kind in message
    assert message.startswith("blocked: ") and "\n" not in message


@pytest.mark.parametrize(("url", "kind"), BLOCKED)
def test_async_check_agrees(url: str, kind: str) -> None:
    """The event-loop variant refuses exactly what the blocking one refuses."""
    with pytest.raises(FetchError, match=kind):
        asyncio.run(check_url_allowed_async(url, allow_private=False))


@pytest.mark.parametrize("url", ALLOWED)
def test_public_addresses_are_allowed(url: str) -> None:
    """Public literal addresses pass, in both variants."""
    check_url_allowed(url, allow_private=False)
    asyncio.run(check_url_allowed_async(url, allow_private=False))


def test_message_names_host_and_address() -> None:
    """A name that resolves privately is reported with the address it resolved to."""
    with pytest.raises(FetchError) as caught:
        check_url_allowed("http://localhost:8080/x", allow_private=False)
    assert str(caught.value) == (
        "blocked: localhost resolves to 127.0.0.1, a loopback address "
        "(private addresses are not allowed)"
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://8.8.8.8/feed.xml",
        "file:///etc/passwd",
        "gopher://8.8.8.8/",
        "javascript:alert(1)",
        "data:text/xml,<rss/>",
        "//8.8.8.8/feed",
        "8.8.8.8/feed",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_only_http_and_https(url: str, allow_private: bool) -> None:
    """Other schemes are refused even when private addresses are allowed."""
    with pytest.raises(FetchError, match="unsupported URL scheme"):
        check_url_allowed(url, allow_private=allow_private)


@pytest.mark.parametrize("url", ["http:///feed", "https://:443/", "http://[::1/"])
def test_urls_without_a_usable_host(url: str) -> None:
    """A URL with no host, or one that does not parse, is refused."""
    with pytest.raises(FetchError):
        check_url_allowed(url, allow_private=True)


def fake_getaddrinfo(answers: dict[str, list[str]]) -> Any:
    """A getaddrinfo that answers from `answers` and fails for any other name."""

    def getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port) if ":" not in a else (a, port, 0, 0),
            )
            for a in answers[host]
        ]

    return getaddrinfo


def test_one_private_answer_among_public_ones_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every resolved address must be public; a single private record blocks the URL."""
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        fake_getaddrinfo({"feeds.example.org": ["93.184.215.14", "10.0.0.7"]}),
    )
    with pytest.raises(FetchError, match=r"feeds\.example\.org resolves to 10\.0\.0\.7"):
        check_url_allowed("https://feeds.example.org/rss", allow_private=False)
    with pytest.raises(FetchError, match=r"10\.0\.0\.7"):
        asyncio.run(check_url_allowed_async("https://feeds.example.org/rss", allow_private=False))


def test_public_name_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name resolving only to public addresses (v4 and v6) is allowed."""
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        fake_getaddrinfo(
            {"feeds.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}
        ),
    )
    check_url_allowed("https://feeds.example.org/rss", allow_private=False)
    asyncio.run(check_url_allowed_async("https://feeds.example.org/rss", allow_private=False))


def test_unresolvable_host_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that does not resolve is refused, with the resolver's reason, as a FetchError."""
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({}))
    with pytest.raises(FetchError, match=r"cannot resolve host nowhere\.example: Name or service"):
        check_url_allowed("http://nowhere.example/", allow_private=False)
    with pytest.raises(FetchError, match="cannot resolve host") as caught:
        asyncio.run(check_url_allowed_async("http://nowhere.example/", allow_private=False))
    assert isinstance(caught.value.__cause__, socket.gaierror)  # the fetcher retries these


def test_allow_private_skips_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """With allow_private the host is not even resolved: intranet names and loopback pass."""
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({}))
    check_url_allowed("http://intranet.corp/feed", allow_private=True)
    check_url_allowed("http://127.0.0.1:8080/feed", allow_private=True)
    asyncio.run(check_url_allowed_async("http://[::1]/feed", allow_private=True))


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
        ("127.0.0.1", "a loopback address"),
        ("::ffff:192.168.0.1", "a private address"),
        ("240.0.0.1", "a private address"),
        ("192.0.2.1", "a private address"),  # TEST-NET-1, documentation only
        ("198.18.0.1", "a private address"),  # benchmarking range
    ],
)
def test_address_problem(address: str, problem: str | None) -> None:
    """address_problem names the class of a non-public address, None for a public one."""
    assert address_problem(ipaddress.ip_address(address)) == problem
