"""The Discord webhook sink against the Discord API emulator's incoming webhooks.

WebhookSink posts with httpx, not discord.py, so it is pointed at the emulator by its URL: the
webhook's discord.com URL with the emulator's API base in place of https://discord.com/api.
Waits for Discord's rate limits go through an injected `sleep` that records instead of
sleeping. The last test runs `signalwatch run --once --all` with a webhook route and no Discord
token: the webhook sink needs no gateway.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from discord_emulator import DiscordEmulator, EmuWebhook
from feedserver import FeedServer

from bot.errors import DeliveryError, PermanentDeliveryError
from bot.model import Alert
from bot.render import alert_embed
from bot.sinks.webhook import MAX_RETRY_AFTER, RateLimited, WebhookSink

pytest_plugins = ["feedserver"]

ROOT = Path(__file__).resolve().parent.parent
E2E = Path(__file__).parent / "data" / "e2e"
WAIT = 20.0  # seconds: the most a subprocess may take
HOOK = "SW_TEST_HOOK"
PUBLISHED = datetime(2025, 6, 25, 9, 30, tzinfo=UTC)
# (signal, title) of every alert tests/data/e2e/wire.xml gives with the e2e watchlist
# (the same table as tests/test_run_e2e.py).
EXPECTED = {
    ("nato-5pct", "NATO allies agree to spend 5% of GDP on defence by 2035"),
    ("ukraine-truce", "Zelensky says ceasefire terms with Russia are within reach"),
    ("tariff-waivers", "US grants tariff exemptions for smartphones and computer chips"),
    ("ukraine-truce", "Kremlin weighs 28-point peace plan as Kyiv sets out red lines"),
    ("nato-5pct", "Allies back 5% defence spending goal as Putin floats ceasefire in Ukraine"),
    ("ukraine-truce", "Allies back 5% defence spending goal as Putin floats ceasefire in Ukraine"),
}


def alert(**changes: object) -> Alert:
    """An alert for the test webhook, overridden by `changes`."""
    values: dict[str, object] = {
        "alert_id": "5f0c3a1e9b7d4c2a8e6f1b3d5a7c9e0f",
        "signal_id": "nato-5pct",
        "destination": f"webhook:{HOOK}",
        "title": "NATO allies agree 5% target @everyone",
        "link": "https://wire.example.org/world/nato",
        "source_id": "wire",
        "published": PUBLISHED,
        "terms": ("NATO", "5%"),
        "snippet": "**NATO** allies agree **5%** target",
        "severity": "high",
    }
    values.update(changes)
    return Alert(**values)  # type: ignore[arg-type]


def url_of(emu: DiscordEmulator, hook: EmuWebhook) -> str:
    """The webhook's URL on the emulator (its discord.com URL with the emulator's API base)."""
    return hook.url.replace("https://discord.com/api", emu.api_base)


def hook_path(hook: EmuWebhook) -> str:
    """The webhook's path as the emulator records it."""
    return f"/webhooks/{hook.id}/{hook.token}"


class Sleeps:
    """An injected `sleep` that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@asynccontextmanager
async def webhook_sink(
    urls: dict[str, str], sleeps: Sleeps | None = None
) -> AsyncIterator[WebhookSink]:
    """A WebhookSink with recorded sleeps and the signal title 'NATO spending hits 5%'."""
    sink = WebhookSink(
        urls,
        titles=lambda sid: "NATO spending hits 5%" if sid == "nato-5pct" else None,
        sleep=sleeps or Sleeps(),
    )
    try:
        yield sink
    finally:
        await sink.aclose()


def run(scenario: Callable[[DiscordEmulator], Awaitable[None]]) -> None:
    """Run `scenario` against a fresh emulator (a hang fails it after 60 s)."""

    async def main() -> None:
        async with DiscordEmulator() as emu:
            await asyncio.wait_for(scenario(emu), 60)

    asyncio.run(main())


def test_posts_the_embed_and_returns_the_message_id() -> None:
    """One POST with ?wait=true: the embed, no pings; the receipt is the message id."""

    async def scenario(emu: DiscordEmulator) -> None:
        hook = emu.add_webhook(emu.alerts)
        async with webhook_sink({HOOK: url_of(emu, hook)}) as sink:
            receipt = await sink.send(alert())
        [post] = emu.requests_to("POST", hook_path(hook))
        assert post.query == {"wait": "true"} and post.status == 200
        assert post.json["embeds"] == [alert_embed(alert(), "NATO spending hits 5%")]
        assert post.json["allowed_mentions"]["parse"] == []
        assert post.json["allowed_mentions"]["users"] == []
        assert "content" not in post.json
        assert "@everyone" not in post.json["embeds"][0]["title"]
        assert post.headers["user-agent"].startswith("signalwatch/")
        [message] = emu.messages_in(emu.alerts)
        assert receipt == message["id"] and message["webhook_id"] == str(hook.id)
        assert message["mention_everyone"] is False and message["mentions"] == []
        assert message["embeds"][0]["footer"] == {"text": "signal: nato-5pct"}

    run(scenario)


def test_a_429_is_waited_out_as_discord_asks_then_retried() -> None:
    """429 with retry_after in the body: one wait of that long, then the message, once."""

    async def scenario(emu: DiscordEmulator) -> None:
        hook = emu.add_webhook(emu.alerts)
        sleeps = Sleeps()
        emu.fail_next("POST", hook_path(hook), 429, retry_after=0.25)
        async with webhook_sink({HOOK: url_of(emu, hook)}, sleeps) as sink:
            receipt = await sink.send(alert())
        assert sleeps.waits == [0.25]
        assert [r.status for r in emu.requests_to("POST", hook_path(hook))] == [429, 200]
        assert [m["id"] for m in emu.messages_in(emu.alerts)] == [receipt]

    run(scenario)


def test_rate_limits_that_do_not_end_leave_the_alert_to_the_outbox() -> None:
    """A 429 on every attempt: RateLimited (transient) after `attempts`; a wait past
    MAX_RETRY_AFTER is not slept at all."""

    async def scenario(emu: DiscordEmulator) -> None:
        hook = emu.add_webhook(emu.alerts)
        sleeps = Sleeps()
        emu.fail_next("POST", hook_path(hook), 429, retry_after=0.1, times=4)
        async with webhook_sink({HOOK: url_of(emu, hook)}, sleeps) as sink:
            with pytest.raises(RateLimited) as caught:
                await sink.send(alert())
            assert not isinstance(caught.value, PermanentDeliveryError)
            assert sleeps.waits == [0.1, 0.1, 0.1]
            assert len(emu.requests_to("POST", hook_path(hook))) == 4

            emu.fail_next("POST", hook_path(hook), 429, retry_after=MAX_RETRY_AFTER + 1)
            with pytest.raises(DeliveryError, match="rate limited for 61s") as long:
                await sink.send(alert())
            assert not isinstance(long.value, PermanentDeliveryError)
            assert sleeps.waits == [0.1, 0.1, 0.1]  # nothing more slept
        assert emu.messages_in(emu.alerts) == []

    run(scenario)


def test_a_gone_webhook_is_a_permanent_failure() -> None:
    """404 (deleted webhook) and 401 (wrong token) give PermanentDeliveryError, no retry."""

    async def scenario(emu: DiscordEmulator) -> None:
        hook = emu.add_webhook(emu.alerts)
        deleted = url_of(emu, hook).replace(str(hook.id), "1234567890123456789")
        revoked = url_of(emu, hook)[:-3] + "xyz"
        sleeps = Sleeps()
        async with webhook_sink({"DELETED": deleted, "REVOKED": revoked}, sleeps) as sink:
            with pytest.raises(PermanentDeliveryError, match="HTTP 404 Unknown Webhook"):
                await sink.send(alert(destination="webhook:DELETED"))
            with pytest.raises(PermanentDeliveryError, match="HTTP 401 Invalid Webhook Token"):
                await sink.send(alert(destination="webhook:REVOKED"))
        assert [r.status for r in emu.requests] == [404, 401] and sleeps.waits == []

    run(scenario)


def test_an_injected_404_is_permanent_and_a_500_is_not() -> None:
    """A 404 on a known webhook: permanent. A 500: DeliveryError (left for the outbox)."""

    async def scenario(emu: DiscordEmulator) -> None:
        hook = emu.add_webhook(emu.alerts)
        async with webhook_sink({HOOK: url_of(emu, hook)}) as sink:
            emu.fail_next("POST", hook_path(hook), 404, code=10015, message="Unknown Webhook")
            with pytest.raises(PermanentDeliveryError, match="deleted or revoked"):
                await sink.send(alert())
            emu.fail_next("POST", hook_path(hook), 500)
            with pytest.raises(DeliveryError, match="HTTP 500") as caught:
                await sink.send(alert())
            assert not isinstance(caught.value, PermanentDeliveryError)
        assert len(emu.requests) == 2 and emu.messages_in(emu.alerts) == []

    run(scenario)


def test_a_refused_connection_is_transient() -> None:
    """Nothing listening: DeliveryError naming the webhook, not a permanent failure."""

    async def scenario(emu: DiscordEmulator) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}/api/v10/webhooks/1/token"
        async with webhook_sink({HOOK: url}) as sink:
            with pytest.raises(DeliveryError, match=f"webhook '{HOOK}': ConnectError") as caught:
                await sink.send(alert())
        assert not isinstance(caught.value, PermanentDeliveryError)

    run(scenario)


def test_a_webhook_without_a_url_is_a_permanent_failure() -> None:
    """The route names an environment variable that is not set: PermanentDeliveryError."""

    async def scenario(emu: DiscordEmulator) -> None:
        async with webhook_sink({}) as sink:
            with pytest.raises(
                PermanentDeliveryError, match=f"set the environment variable {HOOK}"
            ):
                await sink.send(alert())
        assert emu.requests == []

    run(scenario)


# --- end to end --------------------------------------------------------------------------------

ROUTES = f"""routes:
  - signal: "*"
    webhook: {HOOK}
"""


async def run_cli(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`python -m bot ARGS` to its end (at most WAIT s): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_run_once_delivers_through_a_webhook_route_without_a_bot(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """`run --once --all` with `webhook: SW_TEST_HOOK` and no Discord token: every alert is
    posted to the webhook, nothing printed, no gateway; a rerun posts nothing."""
    feed_server.put("/e2e/wire.xml", (E2E / "wire.xml").read_bytes())
    watchlist = tmp_path / "watchlist.yaml"
    text = (E2E / "watchlist.yaml").read_text(encoding="utf-8")
    text = text.replace("__FEEDS__", feed_server.base_url).replace("routes: []\n", ROUTES)
    watchlist.write_text(text, encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SIGNALWATCH_") and k not in ("DISCORD_TOKEN", HOOK)
    }
    env.update(
        SIGNALWATCH_ALLOW_PRIVATE_URLS="1",
        SIGNALWATCH_PER_HOST_SPACING="0",
        SIGNALWATCH_DB=f"sqlite:///{tmp_path / 'db.sqlite'}",
        SIGNALWATCH_WATCHLIST=str(watchlist),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )

    async def scenario(emu: DiscordEmulator) -> None:
        hook = emu.add_webhook(emu.alerts)
        env[HOOK] = url_of(emu, hook)
        code, out, err = await run_cli(tmp_path, env, "run", "--once", "--all")
        assert code == 0, err
        assert "Traceback" not in err and " ERROR " not in err, err
        assert out == ""  # every alert went to the webhook, none to the console
        messages = emu.messages_in(emu.alerts)
        pairs = [
            (m["embeds"][0]["footer"]["text"].removeprefix("signal: "), m["embeds"][0]["title"])
            for m in messages
        ]
        assert sorted(pairs) == sorted(EXPECTED)
        assert all(m["webhook_id"] == str(hook.id) for m in messages)
        posts = emu.requests_to("POST", hook_path(hook))
        assert len(posts) == len(EXPECTED) and all(p.status == 200 for p in posts)
        assert emu.gateway_connections == []
        assert [r for r in emu.requests if not r.path.startswith("/webhooks/")] == []

        code, out, err = await run_cli(tmp_path, env, "run", "--once", "--all")
        assert (code, out) == (0, ""), err
        assert len(emu.requests_to("POST", hook_path(hook))) == len(EXPECTED)

    run(scenario)
