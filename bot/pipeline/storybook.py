"""The story book: the stories of the window a poll files its matched entries under.

entry ─fingerprint─► stored index (window, loaded once a process) ∪ this poll's new stories
      ─► the story it repeats (link, headline, event score) and what it shares with it
         (StoryInPoll.merged_on, shown on the story update), or a new one

A story's fingerprint is its first copy's; every later copy's link and headline are idents
of the story too (`copy_idents`, stored with the copy), so a copy that joined by similar text
is found again by its own link when another source brings it later.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.matching.text import EntryText
from bot.model import Entry
from bot.store import KnownStory, Store
from bot.stories import (
    LINK_RULE,
    TITLE_RULE,
    IndexMatch,
    StoryFingerprint,
    StoryIndex,
    fingerprint,
    outlet_key,
)
from bot.stories.signature import fingerprint_of, title_identifies

__all__ = [
    "STORY_WINDOW",
    "GivenStories",
    "StoredStories",
    "StoryBook",
    "StoryIndexInPoll",
    "copy_idents",
    "entry_fingerprint",
    "outlet",
]

# Copies of one story arriving within this long of its last copy join it instead of alerting.
STORY_WINDOW = timedelta(hours=48)


def outlet(source_id: str, publisher: str | None, link: str | None) -> str:
    """Who published a copy, as a key every source spells alike (see `outlet_key`)."""
    return outlet_key(link, publisher, source_id)


def entry_fingerprint(entry: Entry, text: EntryText) -> StoryFingerprint:
    """An entry's story fingerprint, from its text as the matcher read it (whose tokens it
    reuses)."""
    return fingerprint_of(text, entry.link, entry.published)


def copy_idents(fp: StoryFingerprint) -> tuple[str, ...]:
    """What finds a copy's story again: its canonical link and its headline, where that is
    long enough to identify a story (the rules `StoryIndex` applies to first copies)."""
    idents: list[str] = []
    if fp.link is not None:
        idents.append(f"link:{fp.link}")
    if title_identifies(fp):
        idents.append(f"title:{fp.title_norm}")
    return tuple(idents)


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

    def stories_of_idents(self, idents: Sequence[str]) -> dict[str, int]:
        """The story of the window each ident (a copy's link or headline) was filed under;
        idents of no such story are left out."""
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

    def stories_of_idents(self, idents: Sequence[str]) -> dict[str, int]:
        """The first given story with a copy that has each ident."""
        wanted = set(idents)
        found: dict[str, int] = {}
        for s in self.stories:
            for c in s.copies:
                for ident in copy_idents(fingerprint(c.title, "", c.link)):
                    if ident in wanted:
                        found.setdefault(ident, s.id)
        return found


class StoredStories:
    """The store's stories of the window, indexed once per process and kept up to date.

    A fingerprint never changes once stored, so each is parsed and indexed once: a poll
    reads only the stories new since the last read (by id), and asks the store again about
    the ones that seem to have left the window (a copy may have joined one since, in this
    process or another), forgetting those that did. The index keeps the thousand
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

    def stories_of_idents(self, idents: Sequence[str]) -> dict[str, int]:
        """The story of the window each ident's copy was filed under, from the store."""
        if self.now is None:
            raise RuntimeError("StoredStories.now must be set before a poll reads stories")
        return self.store.stories_of_idents(idents, self.now - self.window)


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
        # Idents of the copies filed in this poll, and the store's answers so far (None: none).
        self._idents: dict[str, StoryInPoll | None] = {}
        # The store's story id for each ident asked about before filing (None: no story).
        self._asked: dict[str, int | None] = {}

    def prefetch(self, candidates: Sequence[StoryFingerprint]) -> None:
        """Ask the store at once about every ident of the copies about to be filed (one query
        for a poll, instead of one per copy and ident)."""
        idents = [i for fp in candidates for i in copy_idents(fp) if i not in self._asked]
        if not idents:
            return
        found = self._book.stories_of_idents(idents)
        for ident in idents:
            self._asked[ident] = found.get(ident)

    def file(
        self, entry: Entry, candidate: StoryFingerprint
    ) -> tuple[StoryInPoll, tuple[str, ...]]:
        """The story `entry` (whose fingerprint is `candidate`, see `entry_fingerprint`)
        belongs to (a new one, kept for the rest of the poll, if none), and the entry's idents,
        to be stored with its copy.

        The strongest rule wins: the same link as any copy, then the same identifying
        headline as any copy, then a near-duplicate of a story's first copy.
        """
        if self._stored is None:
            self._stored = self._book.index()
        idents = copy_idents(candidate)
        story = self._file(entry, candidate, idents)
        for ident in idents:
            self._idents[ident] = story
        return story, idents

    def _file(
        self, entry: Entry, candidate: StoryFingerprint, idents: tuple[str, ...]
    ) -> StoryInPoll:
        assert self._stored is not None
        stored = self._stored.match(candidate)
        new = self._new.match(candidate)
        found: IndexMatch[int] | None = new if new is not None and new.beats(stored) else stored
        for ident in idents:  # a later copy's link or headline, before a weaker rule
            is_link = ident.startswith("link:")
            if found is not None and found.rule <= (LINK_RULE if is_link else TITLE_RULE):
                break
            story = self._by_ident(ident)
            if story is not None:
                story.merged_on = ("same link",) if is_link else ("same headline",)
                return story
        if found is None:
            story = StoryInPoll(candidate, None, entry.key, [], {})
            self._new.add(len(self._new_stories), candidate)
            self._new_stories.append(story)
            return story
        joined = self._new_stories[found.key] if found is new else self._stored_story(found.key)
        joined.merged_on = found.reason.shared
        return joined

    def _by_ident(self, ident: str) -> StoryInPoll | None:
        """The story a copy with `ident` was filed under: in this poll, else in the store."""
        if ident not in self._idents:
            if ident not in self._asked:
                self._asked[ident] = self._book.stories_of_idents([ident]).get(ident)
            story_id = self._asked[ident]
            self._idents[ident] = None if story_id is None else self._stored_story(story_id)
        return self._idents[ident]

    def _stored_story(self, story_id: int) -> StoryInPoll:
        """A stored story, read in full the first time a copy joins it in this poll."""
        story = self._loaded.get(story_id)
        if story is None:
            assert self._stored is not None
            known = self._book.story(story_id)
            if story_id in self._stored:
                fp = self._stored.fingerprint(story_id)
            elif known is not None:
                fp = StoryFingerprint.from_text(known.fingerprint)
            else:  # gone since the ident was read: nothing to compare, nothing announced
                fp = StoryFingerprint(None, None)
            story = _known(known, fp) if known else StoryInPoll(fp, story_id, None, [], {})
            self._loaded[story_id] = story
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
