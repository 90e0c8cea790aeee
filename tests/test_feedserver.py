"""Tests for the local feed server itself, so fetch tests can trust what it serves."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from feedserver import DATA_DIR, MIB, FeedServer, LiveFeed, Reply

from bot.sources.feeds import parse_feed

pytest_plugins = ["feedserver"]


def raw_get(client: httpx.Client, url: str) -> tuple[httpx.Response, bytes]:
    """GET `url` and return the response with its body exactly as sent (not decoded)."""
    with client.stream("GET", url) as response:
        return response, b"".join(response.iter_raw())


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A plain synchronous client that ignores proxy settings."""
    with httpx.Client(trust_env=False, headers={"Accept-Encoding": "identity"}) as c:
        yield c


def test_serves_recorded_feeds_with_validators(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    """Files come back byte for byte with ETag, Last-Modified and a content type by format."""
    response = client.get(feed_server.url("/feeds/dw_all.rdf.xml"))
    assert response.status_code == 200
    assert response.content == (DATA_DIR / "dw_all.rdf.xml").read_bytes()
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"] == "Wed, 25 Jun 2025 12:00:00 GMT"
    assert response.headers["content-type"] == "application/rdf+xml; charset=utf-8"
    types = {
        name: client.get(feed_server.url(f"/feeds/{name}")).headers["content-type"]
        for name in ("govuk_mod.atom.xml", "geopolitics_brief.json", "not_a_feed.html")
    }
    assert types == {
        "govuk_mod.atom.xml": "application/atom+xml; charset=utf-8",
        "geopolitics_brief.json": "application/feed+json",
        "not_a_feed.html": "text/html; charset=utf-8",
    }


def test_conditional_requests_get_304(feed_server: FeedServer, client: httpx.Client) -> None:
    """A matching If-None-Match or a fresh If-Modified-Since gets 304; a stale ETag gets 200."""
    url = feed_server.url("/feeds/bbc_world.xml")
    etag = client.get(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
    since = "Wed, 25 Jun 2025 12:00:00 GMT"
    assert client.get(url, headers={"If-Modified-Since": since}).status_code == 304
    earlier = "Wed, 25 Jun 2025 11:00:00 GMT"
    assert client.get(url, headers={"If-Modified-Since": earlier}).status_code == 200


def test_max_age_query_adds_cache_control(feed_server: FeedServer, client: httpx.Client) -> None:
    """`?max_age=N` adds Cache-Control: max-age=N."""
    response = client.get(feed_server.url("/feeds/bbc_world.xml?max_age=600"))
    assert response.headers["cache-control"] == "max-age=600"


def test_paths_outside_the_data_dir_are_not_served(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    """Traversal and unknown routes are 404s."""
    assert client.get(feed_server.url("/feeds/../feedserver.py")).status_code == 404
    assert client.get(feed_server.url("/feeds/%2e%2e/feedserver.py")).status_code == 404
    assert client.get(feed_server.url("/nothing/here")).status_code == 404


def test_records_every_request(feed_server: FeedServer, client: httpx.Client) -> None:
    """Method, path, query, lower-cased headers and host name are recorded in order."""
    client.get(feed_server.url("/feeds/bbc_world.xml?x=1"), headers={"X-Probe": "yes"})
    client.head(feed_server.url("/status/204", host="localhost"))
    first, second = feed_server.requests
    assert (first.method, first.path, first.query) == ("GET", "/feeds/bbc_world.xml", {"x": "1"})
    assert first.headers["x-probe"] == "yes" and first.host == "127.0.0.1"
    assert (second.method, second.host) == ("HEAD", "localhost")
    assert feed_server.requests_to("/status/204") == [second]
    feed_server.clear()
    assert feed_server.requests == []


def test_put_documents_change_validators(feed_server: FeedServer, client: httpx.Client) -> None:
    """Replacing a put document changes its ETag and moves Last-Modified forward."""
    feed_server.put("/doc.xml", "<rss version='2.0'><channel><title>a</title></channel></rss>")
    one = client.get(feed_server.url("/doc.xml"))
    feed_server.put("/doc.xml", "<rss version='2.0'><channel><title>b</title></channel></rss>")
    two = client.get(feed_server.url("/doc.xml"))
    assert one.headers["etag"] != two.headers["etag"]
    assert one.headers["last-modified"] < two.headers["last-modified"]  # same day, later minute


def test_script_replies_in_order_then_routes_normally(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    """Scripted replies are used once each, then the path falls back to its usual content."""
    feed_server.script(
        "/feeds/bbc_world.xml",
        Reply(503, headers={"Retry-After": "7"}),
        Reply(500, body=b"oops"),
    )
    url = feed_server.url("/feeds/bbc_world.xml")
    first, second, third = (client.get(url) for _ in range(3))
    assert (first.status_code, first.headers["retry-after"]) == (503, "7")
    assert (second.status_code, second.content) == (500, b"oops")
    assert third.status_code == 200


def test_status_route(feed_server: FeedServer, client: httpx.Client) -> None:
    """/status/{code} answers that code, with Retry-After when asked."""
    response = client.get(feed_server.url("/status/429?retry_after=30"))
    assert (response.status_code, response.headers["retry-after"]) == (429, "30")


def test_redirect_route(feed_server: FeedServer, client: httpx.Client) -> None:
    """/redirect makes the requested number of 302 hops before landing."""
    response = client.get(
        feed_server.url("/redirect?to=/feeds/bbc_world.xml&hops=3"), follow_redirects=True
    )
    assert response.status_code == 200
    assert len(response.history) == 3


def test_live_feed_changes_between_polls(feed_server: FeedServer, client: httpx.Client) -> None:
    """New items, new GUIDs and new dates each change the body and the ETag."""
    live = feed_server.live("/live.xml", LiveFeed(title="Wire"))
    live.add_items(2)
    url = feed_server.url("/live.xml")
    etags = [client.get(url).headers["etag"]]
    before = parse_feed("live", client.get(url).content, url=url).entries
    for change in (
        lambda: live.add_items(1),
        live.change_guids,
        lambda: live.redate(timedelta(days=1)),
    ):
        change()
        etags.append(client.get(url).headers["etag"])
    after = parse_feed("live", client.get(url).content, url=url).entries
    assert len(set(etags)) == 4
    assert [e.title for e in after] == ["Wire update 3", "Wire update 2", "Wire update 1"]
    assert after[1].key == before[0].key + "-republished"
    assert after[1].published == before[0].published + timedelta(days=1)  # type: ignore[operator]


def test_generated_feeds_are_stable_and_bumpable(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    """/gen/{i}.xml: M entries, the same ETag every time, a new item after a version bump."""
    feed_server.gen_entries = 7
    url = feed_server.url("/gen/42.xml")
    first = client.get(url)
    assert first.headers["etag"] == client.get(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    entries = parse_feed("gen", first.content, url=url).entries
    assert len(entries) == 7 and entries[0].key == "guid:gen-42-6"
    feed_server.gen_version += 1
    bumped = client.get(url)
    assert bumped.headers["etag"] != first.headers["etag"]
    new_entries = parse_feed("gen", bumped.content, url=url).entries
    assert new_entries[0].key == "guid:gen-42-7" and len(new_entries) == 7
    assert client.get(feed_server.url(f"/gen/{feed_server.gen_feeds}.xml")).status_code == 404


def test_big_body_is_streamed_at_the_requested_size(client: httpx.Client) -> None:
    """/big streams exactly `size` bytes, with or without Content-Length."""
    with FeedServer() as server:
        with_length = client.get(server.url("/big?size=300000"))
        without = client.get(server.url("/big?size=300000&length=0"))
        assert server.bytes_sent["/big"] == 600000
    assert len(with_length.content) == 300000 and with_length.headers["content-length"] == "300000"
    assert len(without.content) == 300000 and "content-length" not in without.headers


def test_gzip_bomb_is_small_and_inflates_to_its_size(client: httpx.Client) -> None:
    """/bomb.xml is a small gzip body that inflates to bomb_size zero bytes."""
    with FeedServer(bomb_size=3 * MIB + 5) as server:
        response, body = raw_get(client, server.url("/bomb.xml"))
    assert response.headers["content-encoding"] == "gzip"
    assert len(body) < 16 * 1024
    inflated = zlib.decompress(body, zlib.MAX_WBITS | 16)
    assert len(inflated) == 3 * MIB + 5 and inflated.count(0) == len(inflated)


def test_gzip_and_deflate_routes(feed_server: FeedServer, client: httpx.Client) -> None:
    """/gzip and /deflate serve the recorded file content-coded (deflate raw on request)."""
    original = (DATA_DIR / "bbc_world.xml").read_bytes()
    _, gz = raw_get(client, feed_server.url("/gzip/bbc_world.xml"))
    assert zlib.decompress(gz, zlib.MAX_WBITS | 16) == original
    _, wrapped = raw_get(client, feed_server.url("/deflate/bbc_world.xml"))
    assert zlib.decompress(wrapped) == original
    _, raw = raw_get(client, feed_server.url("/deflate/bbc_world.xml?raw=1"))
    assert zlib.decompress(raw, -zlib.MAX_WBITS) == original


def test_server_stops_cleanly_with_a_slow_handler_pending() -> None:
    """Stopping while a slow response is still waiting does not hang."""
    server = FeedServer()
    server.start()
    with httpx.Client(trust_env=False, timeout=0.1) as c, pytest.raises(httpx.ReadTimeout):
        c.get(server.url("/slow?delay=30"))
    server.stop()
    server.stop()  # idempotent
