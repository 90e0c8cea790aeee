"""A whole SignalBot on the Discord emulator, for the chat tests (lookup, subscriptions, admin).

    async with chat_bot(discord_emulator, tmp_path) as h:      # emulator + bot, ready
        record = h.seed_article("NATO allies agree 5% of GDP for defence")
        reply = await h.emu.send_interaction("latest", {"count": 3})
        callback = await reply                                 # {"type": 4, "data": {...}}
        await h.sink.send(h.alert_for(record))                 # deliver like the run loop
        h.command("latest")                                    # the schema the bot synced

    run_chat(discord_emulator, tmp_path, scenario, **chat_bot_options)   # the asyncio.run part

What is real: discord.py (unmodified, against `tests/discord_emulator.py`), the SignalBot with
all its cogs, a migrated SQLiteStore in `tmp_path`, the watchlist file (written to `tmp_path`,
compiled into a LiveWatchlist, edited by the real WatchlistEditor) and the DiscordSink. The
clock is a settable `FakeClock`; `services.reload()` re-reads the file at once (there is no run
loop to ask). The default watchlist, `TEST_WATCHLIST`, has three signals (one disabled, one
routed to #general) and one source; `{alerts}` / `{general}` / `{staff}` in a watchlist text
become the emulator's channel ids. `MAIN_WATCHLIST` is the project's own file.

Import this module before `discord` (it imports `discord_emulator` first), and list
`pytest_plugins = ["discord_emulator"]` in the test module for the `discord_emulator` fixture.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from discord_emulator import DiscordEmulator, EmulatorFactory, running
from pydantic import SecretStr

# isort: split
from fakes import FakeClock

from bot.chat.bot import BotServices, DiscordSink, SignalBot
from bot.chat.settings import DiscordSettings
from bot.model import Alert, Entry, Match
from bot.pipeline import DEFAULT_DESTINATION, Compiled, alert_id, identify, source_configs
from bot.pipeline.loop import LiveWatchlist
from bot.store import ArticleRecord
from bot.store.sqlite import SQLiteStore
from bot.watchlist import WatchlistEditor, load_watchlist

__all__ = [
    "MAIN_WATCHLIST",
    "TEST_SOURCE",
    "TEST_WATCHLIST",
    "ChatHarness",
    "FakeClock",
    "chat_bot",
    "command_schema",
    "run_chat",
    "synced_commands",
]

MAIN_WATCHLIST = Path(__file__).resolve().parents[1] / "watchlist.yaml"
TEST_SOURCE = "test-feed"
TEST_WATCHLIST = """\
version: 1

signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    description: NATO members agree, pledge or meet the 5% of GDP defence target.
    query: NATO AND ("5%" OR "five percent") NEAR/12 (GDP OR spending OR defence OR defense)
    severity: high
    tags: [nato, defence]

  - id: ukraine-truce
    title: Ukraine truce terms land
    description: Ceasefire or armistice terms agreed or published.
    query: (Ukraine OR Kyiv) AND (truce OR ceasefire OR armistice)
    severity: critical
    tags: [ukraine]

  - id: canal-deals
    title: Canal deals close
    query: (Panama OR Suez) AND canal AND (deal OR agreement)
    enabled: false

sources:
  - id: test-feed
    url: https://feeds.example.test/world.rss

routes:
  - signal: ukraine-truce
    channel: {general}
"""


def synced_commands(emu: DiscordEmulator) -> list[dict[str, Any]]:
    """The command list of the bot's last bulk overwrite (global or guild), as it sent it."""
    puts = emu.requests_to("PUT", r"/applications/\d+(/guilds/\d+)?/commands")
    if not puts:
        raise AssertionError("the bot never synced its commands")
    body = puts[-1].json
    assert isinstance(body, list)
    return body


def command_schema(emu: DiscordEmulator, name: str) -> dict[str, Any]:
    """One command of the last sync, by name (AssertionError if it was not registered)."""
    for command in synced_commands(emu):
        if command["name"] == name:
            return command
    raise AssertionError(f"/{name} was not registered: {[c['name'] for c in synced_commands(emu)]}")


@dataclass
class ChatHarness:
    """Handles on a running bot: the emulator, the bot and what it is built on."""

    emu: DiscordEmulator
    bot: SignalBot
    store: SQLiteStore
    services: BotServices
    live: LiveWatchlist
    settings: DiscordSettings
    sink: DiscordSink
    clock: FakeClock
    watchlist_path: Path
    reloads: int = 0
    _keys: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def compiled(self) -> Compiled:
        """The watchlist in force."""
        return self.live.compiled

    def reload(self) -> None:
        """Re-read the watchlist file now (what the run loop does on `services.reload()`)."""
        self.live.set(Compiled.build(load_watchlist(self.watchlist_path)))
        self.reloads += 1

    def command(self, name: str) -> dict[str, Any]:
        """The schema the bot registered for `/name`."""
        return command_schema(self.emu, name)

    def seed_article(
        self,
        title: str,
        summary: str = "",
        *,
        link: str | None = None,
        published: datetime | None = None,
        publisher: str | None = None,
        matched_at: datetime | None = None,
        source_id: str = TEST_SOURCE,
        matches: Sequence[Match] | None = None,
    ) -> ArticleRecord:
        """Store a matched article as a poll would (`commit_poll`), matched by the live matcher."""
        key = f"seeded-{next(self._keys)}"
        entry = Entry(
            source_id,
            key,
            title,
            summary,
            link or f"https://news.example.test/{key}",
            published,
            publisher=publisher,
        )
        if matches is None:
            matches = self.compiled.matcher.match(title, summary)
        if not matches:
            raise ValueError(f"no enabled signal matches {title!r}: pass matches= to force one")
        at = matched_at or self.clock.now
        record = ArticleRecord.from_matches(entry, matches, at)
        self.store.commit_poll(source_id, at, seen=[identify(entry)], articles=[record], alerts=[])
        return record

    def alert_for(
        self,
        record: ArticleRecord,
        signal_id: str | None = None,
        destination: str = DEFAULT_DESTINATION,
    ) -> Alert:
        """The alert the pipeline would make for a stored article (first signal by default)."""
        match = next(m for m in record.matches if signal_id in (None, m.signal_id))
        entry = Entry(record.source_id, record.key, record.title, record.summary, record.link)
        severity = self.compiled.watchlist.signal(match.signal_id).severity
        return Alert(
            alert_id=alert_id(entry, match.signal_id, destination),
            signal_id=match.signal_id,
            destination=destination,
            title=record.title,
            link=record.link,
            source_id=record.source_id,
            published=record.published,
            terms=match.terms,
            snippet=match.snippet,
            severity=severity,
            publisher=record.publisher,
        )


def _watchlist_text(emu: DiscordEmulator, watchlist: str | Path) -> str:
    """The watchlist's text with `{alerts}`, `{general}`, `{staff}` as channel ids."""
    text = watchlist.read_text(encoding="utf-8") if isinstance(watchlist, Path) else watchlist
    for name in ("alerts", "general", "staff"):
        text = text.replace("{" + name + "}", str(emu.guild.channel(name).id))
    return text


@asynccontextmanager
async def chat_bot(
    factory: EmulatorFactory,
    tmp_path: Path,
    *,
    watchlist: str | Path = TEST_WATCHLIST,
    guild_sync: bool = False,
    admin_role: int | None = None,
    admin_channel: int | None = None,
    clock: FakeClock | None = None,
    **emulator_options: Any,
) -> AsyncIterator[ChatHarness]:
    """Start the emulator and a ready SignalBot over a fresh store; stop both afterwards."""
    # guild_sync registers the commands in the emulator's guild instead of globally.
    # Alerts for the default destination go to #alerts.
    clock = clock or FakeClock()
    async with factory(**emulator_options) as emu:
        path = tmp_path / "watchlist.yaml"
        path.write_text(_watchlist_text(emu, watchlist), encoding="utf-8")
        live = LiveWatchlist()
        live.set(Compiled.build(load_watchlist(path)))
        store = SQLiteStore(tmp_path / "signalwatch.db")
        try:
            store.migrate()
            store.sync_sources(source_configs(live.compiled.watchlist), clock.now)
            settings = DiscordSettings(
                token=SecretStr(emu.token),
                channel=emu.alerts.id,
                admin_channel=admin_channel,
                admin_role=admin_role,
                guild=emu.guild.id if guild_sync else None,
                api_base=None,
                gateway=None,
            )
            harness: ChatHarness | None = None

            def reload() -> None:
                assert harness is not None
                harness.reload()

            services = BotServices(
                store=store,
                compiled=live.get,
                editor=WatchlistEditor(path),
                clock=clock,
                reload=reload,
            )
            bot = SignalBot(services, settings, guild_ready_timeout=0.05)
            harness = ChatHarness(
                emu=emu,
                bot=bot,
                store=store,
                services=services,
                live=live,
                settings=settings,
                sink=DiscordSink(bot, settings.channel),
                clock=clock,
                watchlist_path=path,
            )
            async with running(bot, emu):
                yield harness
        finally:
            store.close()


def run_chat(
    factory: EmulatorFactory,
    tmp_path: Path,
    scenario: Callable[[ChatHarness], Awaitable[None]],
    **options: Any,
) -> None:
    """Run `scenario` against a ready bot in a fresh event loop (`chat_bot` options)."""

    async def main() -> None:
        async with chat_bot(factory, tmp_path, **options) as harness:
            await scenario(harness)

    asyncio.run(main())
