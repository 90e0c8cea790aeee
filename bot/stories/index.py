"""The index of a window's stories: which known story an item repeats, without scoring all.

StoryIndex.add(key, fingerprint) / .match(candidate)   the answer `find_story` gives, found
through postings of the stories' words. Pure: no I/O (a `load` callback may do some).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Generic, TypeAlias, TypeVar

from bot.stories.signature import (
    MIN_SIGNATURE_WORDS,
    NEAR_DUPLICATE_THRESHOLD,
    SCHEME,
    TITLE_GATE,
    MergeReason,
    StoryFingerprint,
    event_score,
    merge_reason,
    score_bound,
    title_identifies,
    units,
)

__all__ = ["LINK_RULE", "NEAR_RULE", "TITLE_RULE", "IndexMatch", "StoryIndex"]

# How many fingerprints the index loads at a time while it scores stories in bound order.
_BATCH = 32

K = TypeVar("K")

# One slot, or several in ascending order.
Postings: TypeAlias = "int | array[int]"

# How a story was found, strongest first: the same link, the same title, a near-duplicate.
LINK_RULE, TITLE_RULE, NEAR_RULE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class IndexMatch(Generic[K]):
    """A story `StoryIndex.match` found: by which rule, its score, and its key."""

    rule: int
    score: float
    key: K
    # What the candidate shares with the story (the rule's name for a link or title match).
    reason: MergeReason = field(default=MergeReason((), 0.0), compare=False)

    def beats(self, other: IndexMatch[K] | None) -> bool:
        """Whether this answer wins over `other` (a stronger rule, else a higher score)."""
        return other is None or (self.rule, -self.score) < (other.rule, -other.score)


class StoryIndex(Generic[K]):
    """Known stories, indexed so that finding one costs what its rare words cost, not N.

    `find` answers exactly what `find_story` answers over the same stories in insertion order:
    a link match, else the first title match, else the best event score at or above the
    threshold (the first of equals). Events are found through inverted indexes of the
    stories' words, narrowed by what a score needs before any is computed:

    - words: a score above 0 needs TITLE_GATE of the weight of the candidate's title among
      the story's words: that weight is counted in the postings of those words, and only
      stories holding enough are kept; they are scored most-promising first, and scoring
      stops once `score_bound` says no story left can beat the best so far;
    - numbers: when both titles have a number the other item lacks, the score is 0. So a
      candidate whose title has numbers is compared only with stories holding all of them,
      stories whose own title numbers it holds, and stories with no title number (a cluster
      of "… (112.5)"-style headlines costs nothing but their numbers' postings).

    What the index keeps per story is small (about 450 bytes, `bench.bench_stories`): its key,
    its slot in the postings of its words (4-byte slots; a word only one story has holds its
    slot alone), hashes of its link and title, its title numbers. Fingerprints themselves
    (about 6 KB parsed) are kept only without a `load`; with one (the store's stories), the
    last `cache` used are kept and the others are loaded, by key, for the few stories that
    pass the filters above, so memory grows by the small part alone as stories accumulate.
    Stories can be removed (they left the window); the index is compacted once most of its
    slots are gone.
    """

    def __init__(
        self,
        load: Callable[[list[K]], Mapping[K, StoryFingerprint]] | None = None,
        *,
        cache: int = 1024,
    ) -> None:
        self._load = load
        self._cache = cache
        self._slots: dict[K, int] = {}
        self._keys: list[K | None] = []  # by slot; None once removed
        # Every fingerprint (no `load`), or the most recently used ones (an LRU), by slot.
        self._fps: dict[int, StoryFingerprint] = {}
        self._idents: dict[int, int] = {}  # hash of (rule, link or title) → its first slot
        self._more: dict[int, list[int]] = {}  # later slots under the same hash, in order
        # Postings: a word's slots in ascending order, a lone slot as a bare int (most words of
        # a window occur in one story, and an int costs a third of the smallest array).
        self._plain: dict[int, Postings] = {}  # word → slots of stories with no title number
        self._numbered: dict[int, Postings] = {}  # word → slots of the others
        self._by_number: dict[int, Postings] = {}  # one title number → slots filed under it
        self._title_numbers: dict[int, tuple[int, ...]] = {}  # slot → its title numbers
        self._removed = 0

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())

    def add(self, key: K, fp: StoryFingerprint) -> None:
        """Index `fp` under `key` (a key already present is replaced, and goes last)."""
        if key in self._slots:
            self.remove(key)
        slot = len(self._keys)
        self._slots[key] = slot
        self._keys.append(key)
        self._remember(slot, fp)
        if fp.link is not None:
            self._add_ident(hash((LINK_RULE, fp.link)), slot)
        if title_identifies(fp):
            self._add_ident(hash((TITLE_RULE, fp.title_norm)), slot)
        if fp.scheme != SCHEME or len(fp.title_words) < MIN_SIGNATURE_WORDS:
            return
        numbers = fp.title_words & fp.numbers
        family = self._numbered if numbers else self._plain
        for word in fp.words:
            _post(family, word, slot)
        if numbers:
            self._title_numbers[slot] = tuple(numbers)
            # A story whose title numbers the candidate must all hold is found under any one
            # of them: the one least filed under so far keeps every list short.
            home = min(numbers, key=lambda n: _count(self._by_number.get(n)))
            _post(self._by_number, home, slot)

    def remove(self, key: K) -> None:
        """Forget the story under `key` (nothing happens if there is none)."""
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        self._keys[slot] = None
        self._fps.pop(slot, None)
        self._removed += 1
        if self._removed > len(self._slots):
            self._compact()

    def fingerprint(self, key: K) -> StoryFingerprint:
        """The fingerprint indexed under `key` (KeyError if there is none)."""
        slot = self._slots[key]
        fp = self._fingerprints([slot]).get(slot)
        if fp is None:
            raise KeyError(key)
        return fp

    def keys(self) -> list[K]:
        """The indexed keys, in insertion order."""
        return [k for k in self._keys if k is not None]

    def find(self, candidate: StoryFingerprint) -> K | None:
        """The key of the known story `candidate` belongs to, or None (as `find_story`)."""
        found = self.match(candidate, explain=False)
        return None if found is None else found.key

    def match(self, candidate: StoryFingerprint, *, explain: bool = True) -> IndexMatch[K] | None:
        """What `find` found and by which rule, so that answers of two indexes can be ranked;
        with `explain`, what the candidate shares with it (`IndexMatch.reason`)."""
        link, title = candidate.link, candidate.title_norm
        if link is not None:
            slot = self._identified(hash((LINK_RULE, link)), lambda fp: fp.link == link)
            if slot is not None:
                return IndexMatch(LINK_RULE, 1.0, self._key(slot), MergeReason(("same link",), 1.0))
        if title_identifies(candidate):
            slot = self._identified(hash((TITLE_RULE, title)), lambda fp: fp.title_norm == title)
            if slot is not None:
                return IndexMatch(
                    TITLE_RULE, 1.0, self._key(slot), MergeReason(("same headline",), 1.0)
                )
        words = candidate.title_words
        if candidate.scheme != SCHEME or len(words) < MIN_SIGNATURE_WORDS:
            return None
        # The title gate in whole units (weights rounded up): what of the title a story must hold.
        need = math.ceil(TITLE_GATE * candidate.title_weight - 1e-6)
        numbers = words & candidate.numbers
        if not numbers:  # no number to veto with: any story may score
            bounds = self._sharing(words, need, self._plain, self._numbered)
        else:  # stories without title numbers, then those the number rule lets through
            bounds = self._sharing(words, need, self._plain)
            others: set[int] = set()
            rarest = min(numbers, key=lambda n: _count(self._numbered.get(n)))
            others.update(_slots(self._numbered.get(rarest)))  # those holding all are among these
            for number in candidate.numbers:
                others.update(_slots(self._by_number.get(number)))  # those whose numbers it holds
            heaviest = sorted(words, key=units, reverse=True)
            for slot in others:
                if self._keys[slot] is None or self._vetoed(slot, numbers, candidate.words):
                    continue
                held = self._held(slot, heaviest, need)
                if held >= need:
                    bounds.setdefault(held, []).append(slot)
        return self._best(candidate, bounds, explain)

    def _best(
        self, candidate: StoryFingerprint, buckets: dict[int, list[int]], explain: bool
    ) -> IndexMatch[K] | None:
        """The best-scoring story in `buckets` (the most of the candidate's title weight a
        story may hold, in weight rounded up → those stories), as `find_story` ranks them: the
        highest score at or above the threshold, the first of equals.

        Stories are scored in order of that bound, fingerprints loaded a batch at a time, and
        the scoring stops once a story's `score_bound` falls below the best score so far: no
        story after it can win.
        """
        title = candidate.title_weight
        best, best_slot, best_fp = NEAR_DUPLICATE_THRESHOLD, None, None
        for held in sorted(buckets, reverse=True):
            ceiling = score_bound(candidate, held / title)
            if ceiling < best:
                break  # no story left can reach the best so far
            slots = buckets[held]
            for start in range(0, len(slots), _BATCH):
                batch = slots[start : start + _BATCH]
                fps = self._fingerprints(batch)
                for slot in batch:
                    fp = fps.get(slot)
                    if fp is None:
                        continue
                    score = event_score(candidate, fp)
                    if score < best:
                        continue
                    if best_slot is None or score > best or slot < best_slot:
                        best, best_slot, best_fp = score, slot, fp
                if ceiling < best:
                    break
        if best_slot is None or best_fp is None:
            return None
        reason = merge_reason(candidate, best_fp) if explain else MergeReason((), best)
        return IndexMatch(NEAR_RULE, best, self._key(best_slot), reason)

    # -- filters, in the postings alone ------------------------------------------------------

    def _sharing(
        self, words: frozenset[int], need: int, *families: dict[int, Postings]
    ) -> dict[int, list[int]]:
        """The live stories in `families` that may hold `need` units (weights rounded up) of
        `words`, by the most each may hold (a superset: the score decides).

        Weights are counted over the words' postings in C: each word's list is repeated as many
        times as its weight rounded up, and a Counter counts the joined arrays. The lightest
        words (common ones, whose lists are the longest) are not read while together they
        weigh less than `need`: a story must then hold one of the others, and may hold them
        all (their weight is added to its bound).
        """
        ordered = sorted(words, key=units)  # lightest first
        allowance = 0  # what the words left unread weigh together
        while len(ordered) > 1 and allowance + units(ordered[0]) < need:
            allowance += units(ordered.pop(0))
        hits = Counter(
            chain.from_iterable(
                _slots(family[w]) * units(w) for w in ordered for family in families if w in family
            )
        )
        need -= allowance
        passed = [(slot, held) for slot, held in hits.items() if held >= need]
        keys = self._keys
        buckets: dict[int, list[int]] = {}
        for slot, held in passed:
            if keys[slot] is not None:
                buckets.setdefault(held + allowance, []).append(slot)
        return buckets

    def _holds(self, slot: int, word: int) -> bool:
        """Whether the story in `slot` has `word` (title or lede), by bisecting its postings."""
        family = self._numbered if slot in self._title_numbers else self._plain
        postings = family.get(word)
        if postings is None:
            return False
        if isinstance(postings, int):
            return postings == slot
        i = bisect_left(postings, slot)
        return i < len(postings) and postings[i] == slot

    def _held(self, slot: int, heaviest: list[int], need: int) -> int:
        """What of `heaviest` (words, heaviest first) the story in `slot` holds, in units;
        stops early, with less than `need`, once the rest cannot make up `need`."""
        left = sum(map(units, heaviest))
        held = 0
        for word in heaviest:
            weight = units(word)
            left -= weight
            if self._holds(slot, word):
                held += weight
            elif held + left < need:
                return held
        return held

    def _vetoed(self, slot: int, numbers: frozenset[int], words: frozenset[int]) -> bool:
        """The number rule of `event_score`: both titles have a number the other lacks."""
        own = self._title_numbers.get(slot)
        if not numbers or own is None:
            return False
        return any(n not in words for n in own) and any(not self._holds(slot, n) for n in numbers)

    # -- fingerprints, identities, slots ------------------------------------------------------

    def _remember(self, slot: int, fp: StoryFingerprint) -> None:
        self._fps.pop(slot, None)
        self._fps[slot] = fp  # last: the most recently used
        if self._load is not None and len(self._fps) > self._cache:
            del self._fps[next(iter(self._fps))]

    def _fingerprints(self, slots: list[int]) -> dict[int, StoryFingerprint]:
        """The fingerprints of these live slots: remembered, else loaded (one call for all)."""
        found: dict[int, StoryFingerprint] = {}
        missing: list[int] = []
        for slot in slots:
            fp = self._fps.get(slot)
            if fp is None:
                missing.append(slot)
            else:
                found[slot] = fp
                if self._load is not None:
                    self._remember(slot, fp)
        if missing and self._load is not None:
            loaded = self._load([self._key(slot) for slot in missing])
            for slot in missing:
                fp = loaded.get(self._key(slot))
                if fp is not None:  # a story the loader no longer has cannot be compared
                    found[slot] = fp
                    self._remember(slot, fp)
        return found

    def _add_ident(self, ident: int, slot: int) -> None:
        if ident in self._idents:
            self._more.setdefault(ident, []).append(slot)
        else:
            self._idents[ident] = slot

    def _identified(self, ident: int, same: Callable[[StoryFingerprint], bool]) -> int | None:
        """The first live slot under `ident` whose fingerprint is truly the same (not a clash)."""
        first = self._idents.get(ident)
        if first is None:
            return None
        slots: list[int] = [first, *self._more.get(ident, [])]
        for slot in slots:
            if self._keys[slot] is None:
                continue
            fp = self._fingerprints([slot]).get(slot)
            if fp is not None and same(fp):
                return slot
        return None

    def _key(self, slot: int) -> K:
        key = self._keys[slot]
        assert key is not None
        return key

    def _compact(self) -> None:
        """Renumber the live slots 0..n-1 and drop the removed ones from every list."""
        moved = array("q", [-1]) * len(self._keys)
        keys: list[K | None] = []
        for slot, key in enumerate(self._keys):
            if key is not None:
                moved[slot] = len(keys)
                keys.append(key)
        self._keys, self._removed = keys, 0
        self._slots = {key: slot for slot, key in enumerate(keys) if key is not None}
        self._fps = {moved[s]: fp for s, fp in self._fps.items() if moved[s] >= 0}
        self._title_numbers = {moved[s]: n for s, n in self._title_numbers.items() if moved[s] >= 0}
        for family in (self._plain, self._numbered, self._by_number):
            for word, postings in list(family.items()):
                kept = [moved[s] for s in _slots(postings) if moved[s] >= 0]
                if len(kept) > 1:
                    family[word] = array("I", kept)
                elif kept:
                    family[word] = kept[0]
                else:
                    del family[word]
        idents, more = self._idents, self._more
        self._idents, self._more = {}, {}
        for ident, first in idents.items():
            chain: list[int] = [first, *more.get(ident, [])]
            for slot in chain:
                if moved[slot] >= 0:
                    self._add_ident(ident, moved[slot])


def _post(family: dict[int, Postings], word: int, slot: int) -> None:
    """Add `slot` (the highest so far) to `word`'s postings in `family`."""
    held = family.get(word)
    if held is None:
        family[word] = slot
    elif isinstance(held, int):
        family[word] = array("I", (held, slot))
    else:
        held.append(slot)


def _slots(postings: Postings | None) -> tuple[int, ...] | array[int]:
    """The slots of some postings (none for None)."""
    if postings is None:
        return ()
    return (postings,) if isinstance(postings, int) else postings


def _count(postings: Postings | None) -> int:
    return len(_slots(postings))
