"""The story book: the stories of the window a poll files its matched entries under.

entry ─fingerprint─► stored index (window, loaded once a process) ∪ this poll's new stories
      ─► the story it repeats (link, headline, event score) and what it shares with it
         (StoryInPoll.merged_on, shown on the story update), or a new one
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.model import Entry
from bot.store import KnownStory, Store
from bot.stories import StoryFingerprint, StoryIndex, fingerprint, outlet_key

__all__ = ["STORY_WINDOW", "GivenStories", "StoredStories", "StoryBook", "outlet"]

# Copies of one story arriving within this long of its last copy join it instead of alerting.
STORY_WINDOW = timedelta(hours=48)


def outlet(source_id: str, publisher: str | None, link: str | None) -> str:
    """Who published a copy, as a key every source spells alike (see `outlet_key`)."""
    return outlet_key(link, publisher, source_id)


@dataclass
class StoryInPoll:
    """A story as one poll sees it: known before, or started by this poll."""

    fingerprint: StoryFingerprint
    story_id: int | None  # None: new in this poll, stored under `ref`
    ref: str | None
    outlets: list[str]
    announced: dict[tuple[str, str], str]  # (signal id, route label) -> announcing alert id
    fingerprint_written: bool = False
    # Why the entry last filed under it joined it (MergeReason.shared); () when it began it.
    merged_on: tuple[str, ...] = ()


class StoryBook(Protocol):
    """The stored stories a poll files its entries under (the store's, or given in tests)."""

    def index(self) -> StoryIndex[int]:
        """Every story of the window by id, indexed for finding the one an entry repeats."""
        ...

    def story(self, story_id: int) -> KnownStory | None:
        """One story in full: its copies and announcements."""
        ...


@dataclass(frozen=True)
class GivenStories:
    """A StoryBook of stories at hand (no store): for planning in tests and tools."""

    stories: Sequence[KnownStory] = ()

    def index(self) -> StoryIndex[int]:
        """Every story, by id, with its parsed fingerprint."""
        index: StoryIndex[int] = StoryIndex()
        for s in self.stories:
            index.add(s.id, StoryFingerprint.from_text(s.fingerprint))
        return index

    def story(self, story_id: int) -> KnownStory | None:
        """The story with this id, if given."""
        return next((s for s in self.stories if s.id == story_id), None)


class StoredStories:
    """The store's stories of the window, indexed once per process and kept up to date.

    A fingerprint never changes once stored, so each is parsed and indexed once: a poll
    reads only the stories new since the last read (by id), and asks the store again about
    the ones that seem to have left the window (a copy may have joined one since, in this
    process or another), forgetting those that did. The index keeps the few thousand
    fingerprints last used and loads others by id; copies and announcements are loaded only
    for the stories an entry joins. Set `now` before a poll reads the index.
    """

    def __init__(self, store: Store, window: timedelta = STORY_WINDOW):
        self.store = store
        self.window = window
        self.now: datetime | None = None
        self._index: StoryIndex[int] = StoryIndex(self._load)
        # A heap of (last seen, id) packed into one int each (see _pack): as true as when
        # pushed; a story is asked about again when its entry reaches the top.
        self._expiry: list[int] = []
        self._after_id = 0

    def index(self) -> StoryIndex[int]:
        """Every story seen in the window ending at `now`, by id."""
        if self.now is None:
            raise RuntimeError("StoredStories.now must be set before a poll reads stories")
        since = self.now - self.window
        for story_id, text, last_seen in self.store.recent_story_fingerprints(
            since, after_id=self._after_id
        ):
            self._index.add(story_id, StoryFingerprint.from_text(text))
            heapq.heappush(self._expiry, _pack(last_seen, story_id))
            self._after_id = max(self._after_id, story_id)
        bound = _pack(since, 0)
        leaving: list[int] = []
        while self._expiry and self._expiry[0] < bound:
            leaving.append(heapq.heappop(self._expiry) & _ID_MASK)
        if leaving:
            lately = self.store.stories_last_seen(leaving)
            for story_id in leaving:
                seen_at = lately.get(story_id)
                if seen_at is not None and seen_at >= since:
                    heapq.heappush(self._expiry, _pack(seen_at, story_id))  # a copy joined it
                else:
                    self._index.remove(story_id)
        return self._index

    def _load(self, story_ids: list[int]) -> dict[int, StoryFingerprint]:
        texts = self.store.story_fingerprints(story_ids)
        return {story_id: StoryFingerprint.from_text(text) for story_id, text in texts.items()}

    def story(self, story_id: int) -> KnownStory | None:
        """One story in full, from the store."""
        return self.store.story(story_id)


_ID_BITS = 40
_ID_MASK = (1 << _ID_BITS) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _pack(at: datetime, story_id: int) -> int:
    """(microseconds since 1970, id) as one int that sorts as the pair does (ids < 2**40)."""
    if not 0 <= story_id <= _ID_MASK:
        raise ValueError(f"story id {story_id} does not fit in {_ID_BITS} bits")
    return ((at - _EPOCH) // timedelta(microseconds=1)) << _ID_BITS | story_id


class StoryIndexInPoll:
    """The stories of the window, read only when a poll has a match, plus this poll's new ones.

    The stored ones come first: between equal answers, a stored story wins over one this poll
    started, as it would in one list of the stored stories followed by the new ones.
    """

    def __init__(self, book: StoryBook):
        self._book = book
        self._stored: StoryIndex[int] | None = None
        self._loaded: dict[int, StoryInPoll] = {}  # stored stories a copy joined in this poll
        self._new: StoryIndex[int] = StoryIndex()  # stories this poll started, by position
        self._new_stories: list[StoryInPoll] = []

    def file(self, entry: Entry) -> StoryInPoll:
        """The story `entry` belongs to; a new one (kept for the rest of the poll) if none."""
        if self._stored is None:
            self._stored = self._book.index()
        candidate = fingerprint(entry.title, entry.summary, entry.link, entry.published)
        stored = self._stored.match(candidate)
        new = self._new.match(candidate)
        if new is not None and new.beats(stored):
            joined = self._new_stories[new.key]
            joined.merged_on = new.reason.shared
            return joined
        if stored is not None:
            loaded = self._loaded.get(stored.key)
            if loaded is None:  # a stored story, read in full the first time a copy joins it
                fp = self._stored.fingerprint(stored.key)
                known = self._book.story(stored.key)
                loaded = _known(known, fp) if known else StoryInPoll(fp, stored.key, None, [], {})
                self._loaded[stored.key] = loaded
            loaded.merged_on = stored.reason.shared
            return loaded
        story = StoryInPoll(candidate, None, entry.key, [], {})
        self._new.add(len(self._new_stories), candidate)
        self._new_stories.append(story)
        return story


def _known(story: KnownStory, fp: StoryFingerprint) -> StoryInPoll:
    """A stored story as a poll sees it: its outlets so far and where it was announced."""
    return StoryInPoll(
        fingerprint=fp,
        story_id=story.id,
        ref=None,
        outlets=list(dict.fromkeys(outlet(c.source_id, c.publisher, c.link) for c in story.copies)),
        announced={(a.signal_id, a.destination): a.alert_id for a in story.announced},
        fingerprint_written=True,
    )
