"""Same-story detection: one alert per story, however many outlets carry it. Pure: no I/O, no clock.

fingerprint(title, summary, link) → StoryFingerprint   once per entry; the store keeps to_text()
same_story(a, b)                                       canonical link → normalised title → near-dup
find_story(candidate, [(key, fingerprint), ...])       the best known story in the window, or None
StoryIndex.add(key, fingerprint) / .find(candidate)   the same answer, without scoring every story
outlet_key(link, publisher, source_id)                 who published a copy, spelled alike by all

The rules, in order (the first that applies decides):
1. the same canonical link is the same story;
2. the same normalised title is the same story, unless the title is too short or generic to
   identify one (fewer than MIN_TITLE_WORDS words, or a live blog: "Live updates: ...");
3. otherwise the near-duplicate score (below) must reach NEAR_DUPLICATE_THRESHOLD, and no number
   in either title may be missing from the other item ("5%" vs "2%", "20,000" vs "8,000").

The near-duplicate signature is a set of hashed content words (case, accents, plurals and
number spellings folded by `bot.matching.normalize`, stop words dropped) for the title and for
the lede (the first LEDE_WORDS content words of the summary). The score is the mean of
  - the Jaccard similarity of the two titles' words, and
  - containment: the smaller of the shares of each title's words found anywhere in the other item.
Exact word sets rather than MinHash or SimHash: short texts have 10-40 words, so the exact set is
as small as a sketch and has no estimation error (measured in tests/data/stories/README.md).

The window (default 48 h) is the caller's: `find_story` compares against whatever it is given.
A wrong merge loses an alert, a missed merge only repeats one, so the threshold favours precision.
"""

from __future__ import annotations

import base64
import math
import re
import zlib
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import chain
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from bot.matching.normalize import normal_form
from bot.sources.entries import canonical_link, normalised_title

__all__ = [
    "DEFAULT_WINDOW",
    "NEAR_DUPLICATE_THRESHOLD",
    "SCHEME",
    "IndexMatch",
    "StoryFingerprint",
    "StoryIndex",
    "find_story",
    "fingerprint",
    "outlet_key",
    "same_story",
    "similarity",
]

K = TypeVar("K")

# The signature scheme; bump it when tokens, hashing or the lede length change. Rows written
# under another scheme keep their link and title rules but never near-match.
SCHEME = "sw1"
# How far back the caller should look for a story to join (the default).
DEFAULT_WINDOW = timedelta(hours=48)
# Chosen on pairs_dev.jsonl: the lowest threshold with precision ≥ 0.97 there, window applied
# (tests/data/stories/README.md has the sweep).
NEAR_DUPLICATE_THRESHOLD = 0.50
# Titles with fewer words than this ("Breaking news", "Kyiv attacked") name no single story.
MIN_TITLE_WORDS = 4
# Titles with fewer content words than this are not compared as near-duplicates at all.
MIN_SIGNATURE_WORDS = 3
# How much of the summary is signed: ledes agree early and drift apart later.
LEDE_WORDS = 30

# Function words and news filler, after normalisation (plurals folded). Agency names are here
# because datelines ("BEIJING (AP) —") are shared by unrelated stories from one wire.
_STOP = frozenset(
    """a an the and or but of to in on at for from by with as is are was were be been being has
    have had it its this that these those into over after before about than then so not no nor
    via per up out off he she they we you his her their our your them who whom which what when
    where why how will would can could should may might must shall do does did say said saying
    report reported according amid also new news live update breaking exclusive analysis watch
    video photo opinion more most under reuter ap afp tass xinhua dpa ian pti yonhap bloomberg
    anadolu kyodo jiji""".split()  # noqa: SIM905 (a word list reads best as words)
)
# A trailing " - Publisher" (Google News) or " | Site": one to five words, capitalised or numeric.
_PUBLISHER_SUFFIX = re.compile(r"^(?P<title>.*\S)\s+[-–—|]\s+(?P<pub>[A-Z0-9][^-–—|]{1,40})$")
# Headline prefixes that say how a story is presented, not which story it is.
_LABEL_PREFIX = re.compile(
    r"^\s*(?:breaking(?: news)?|exclusive|update[d]?|analysis|watch|video|explainer)\s*[:|-]\s*",
    re.IGNORECASE,
)
# Live blogs keep one title for a day of different stories: never merge on their titles.
_LIVE = re.compile(r"\blive(?:\s+updates?|\s+blog|:)|\bas it happened\b|^\s*live\b", re.IGNORECASE)


# Characters a fingerprint's text form uses as separators.
_UNSAFE = re.compile(r"[\t\n\r]")


def _safe_link(link: str) -> str:
    """`link` canonical, with tabs and line breaks percent-encoded (they are never meaningful)."""
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", canonical_link(link))


def clean_title(title: str) -> str:
    """`title` without a trailing "- Publisher" or a leading "Breaking:"-style label."""
    title = _LABEL_PREFIX.sub("", title.strip())
    m = _PUBLISHER_SUFFIX.match(title)
    if m and len(m["title"].split()) >= MIN_TITLE_WORDS and len(m["pub"].split()) <= 5:
        title = m["title"]
    return title


def _content_words(text: str) -> list[str]:
    """Normalised words of `text` that carry meaning: no stop words, no lone letters."""
    return [w for w in normal_form(text).split() if w not in _STOP and (len(w) > 1 or w.isdigit())]


def _hash(word: str) -> int:
    """A stable 24-bit hash (Python's hash() is salted per process; rows outlive processes)."""
    return zlib.crc32(word.encode("utf-8")) & 0xFFFFFF


def _is_number(word: str) -> bool:
    return any(c.isdigit() for c in word)


def _encode(hashes: frozenset[int]) -> str:
    """Sorted 24-bit hashes as 4 base64url characters each."""
    raw = b"".join(h.to_bytes(3, "big") for h in sorted(hashes))
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode(text: str, where: str) -> frozenset[int]:
    """Inverse of `_encode`; ValueError naming `where` on bad input."""
    if len(text) % 4:
        raise ValueError(
            f"story fingerprint: {where} has {len(text)} characters, not a multiple of 4"
        )
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"story fingerprint: {where} is not base64url: {exc}") from None
    return frozenset(int.from_bytes(raw[i : i + 3], "big") for i in range(0, len(raw), 3))


@dataclass(frozen=True, slots=True)
class StoryFingerprint:
    """What identifies a news item's story: link, normalised title, near-duplicate signature."""

    link: str | None
    title_norm: str | None
    title_words: frozenset[int] = frozenset()
    lede_words: frozenset[int] = frozenset()
    # Hashes of the words with digits ("5%", "2035"), title and lede: numbers must agree.
    numbers: frozenset[int] = frozenset()
    scheme: str = SCHEME
    words: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, value in (("link", self.link), ("title_norm", self.title_norm)):
            if value is not None and _UNSAFE.search(value):
                raise ValueError(
                    f"story fingerprint: {name} {value[:60]!r} has a tab or line break"
                )
        object.__setattr__(self, "words", self.title_words | self.lede_words)

    def to_text(self) -> str:
        """One line for a TEXT column: scheme, link, title, then the signature."""
        link, title = self.link or "", self.title_norm or ""
        if self.scheme != SCHEME:  # a foreign signature cannot be re-encoded; keep what we know
            return f"{self.scheme}\t{link}\t{title}"
        parts = (_encode(self.title_words), _encode(self.lede_words), _encode(self.numbers))
        return "\t".join((self.scheme, link, title, *parts))

    @classmethod
    def from_text(cls, text: str) -> StoryFingerprint:
        """Parse `to_text()` output; another scheme's row keeps link and title, no signature."""
        fields = text.split("\t")
        if len(fields) < 3 or not fields[0].startswith("sw"):
            raise ValueError(
                f"story fingerprint: expected 'sw<N>\\tlink\\ttitle...', got {text[:60]!r}"
            )
        scheme, link, title = fields[0], fields[1] or None, fields[2] or None
        if scheme != SCHEME:
            return cls(link, title, scheme=scheme)
        if len(fields) != 6:
            raise ValueError(f"story fingerprint: {scheme} needs 6 fields, got {len(fields)}")
        return cls(
            link,
            title,
            _decode(fields[3], "title words"),
            _decode(fields[4], "lede words"),
            _decode(fields[5], "numbers"),
        )


def fingerprint(title: str, summary: str, link: str | None) -> StoryFingerprint:
    """The fingerprint of one news item (`summary` as plain text)."""
    cleaned = clean_title(title)
    live = bool(_LIVE.search(cleaned))
    title_norm = normalised_title(cleaned) or None
    title_words = _content_words(cleaned)
    lede_words = _content_words(summary)[:LEDE_WORDS]
    numbers = {w for w in (*title_words, *lede_words) if _is_number(w)}
    return StoryFingerprint(
        link=_safe_link(link) if link and link.strip() else None,
        # A live blog's title names a running page, not a story: keep it out of the title rule.
        title_norm=None if live else title_norm,
        title_words=frozenset() if live else frozenset(map(_hash, title_words)),
        lede_words=frozenset(map(_hash, lede_words)),
        numbers=frozenset(map(_hash, numbers)),
    )


def _title_identifies(fp: StoryFingerprint) -> bool:
    """True when a title is long enough that two items sharing it share a story."""
    return fp.title_norm is not None and fp.title_norm.count(" ") + 1 >= MIN_TITLE_WORDS


def _near_duplicate(a: StoryFingerprint, b: StoryFingerprint) -> float:
    """The signature score in [0, 1]; 0 when a title number is missing from the other item."""
    if a.scheme != SCHEME or b.scheme != SCHEME:
        return 0.0
    ta, tb = a.title_words, b.title_words
    if len(ta) < MIN_SIGNATURE_WORDS or len(tb) < MIN_SIGNATURE_WORDS:
        return 0.0
    # Numbers matter: "5%" against "2%" is another story, but a number one side leaves out is not.
    if (ta & a.numbers) - b.words and (tb & b.numbers) - a.words:
        return 0.0
    common = len(ta & tb)
    jaccard = common / (len(ta) + len(tb) - common)
    containment = min(len(ta & b.words) / len(ta), len(tb & a.words) / len(tb))
    return (jaccard + containment) / 2


def similarity(a: StoryFingerprint, b: StoryFingerprint) -> float:
    """1.0 for the same link or identifying title, else the near-duplicate score."""
    if a.link is not None and a.link == b.link:
        return 1.0
    if a.title_norm == b.title_norm and _title_identifies(a):
        return 1.0
    return _near_duplicate(a, b)


def same_story(a: StoryFingerprint, b: StoryFingerprint) -> bool:
    """True when `a` and `b` report the same story (link, then title, then near-duplicate)."""
    return similarity(a, b) >= NEAR_DUPLICATE_THRESHOLD


def find_story(
    candidate: StoryFingerprint, known: Iterable[tuple[K, StoryFingerprint]]
) -> K | None:
    """The key of the known story `candidate` belongs to, or None.

    A link match wins outright, then the first title match, then the highest near-duplicate
    score at or above the threshold (the first of equals).
    """
    title_key: tuple[K] | None = None  # a 1-tuple, so that a falsy key is still found
    best_key: tuple[K] | None = None
    best = NEAR_DUPLICATE_THRESHOLD
    link = candidate.link
    title = candidate.title_norm if _title_identifies(candidate) else None
    near = len(candidate.title_words) >= MIN_SIGNATURE_WORDS and candidate.scheme == SCHEME
    cand_title_words = candidate.title_words
    for key, fp in known:
        if link is not None and fp.link == link:
            return key
        if title_key is not None:
            continue  # only a link match can still win
        if title is not None and fp.title_norm == title:
            title_key = (key,)
            continue
        # Cheap prefilter: a story sharing no title word with the candidate cannot score.
        if near and not cand_title_words.isdisjoint(fp.words):
            score = _near_duplicate(candidate, fp)
            if score >= best and (best_key is None or score > best):
                best, best_key = score, (key,)
    if title_key is not None:
        return title_key[0]
    return best_key[0] if best_key is not None else None


# How a story was found, strongest first: the same link, the same title, a near-duplicate.
LINK_RULE, TITLE_RULE, NEAR_RULE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class IndexMatch(Generic[K]):
    """A story `StoryIndex.match` found: by which rule, its score, and its key."""

    rule: int
    score: float
    key: K

    def beats(self, other: IndexMatch[K] | None) -> bool:
        """Whether this answer wins over `other` (a stronger rule, else a higher score)."""
        return other is None or (self.rule, -self.score) < (other.rule, -other.score)


class StoryIndex(Generic[K]):
    """Known stories, indexed so that finding one costs what its rare words cost, not N.

    `find` answers exactly what `find_story` answers over the same stories in insertion order:
    a link match, else the first title match, else the best near-duplicate at or above the
    threshold (the first of equals). Near-duplicates are found through inverted indexes of
    the stories' words, narrowed by what a score needs before any is computed:

    - words: a score at or above the threshold needs at least half the candidate's title
      words among the story's words (the score is at most that share): hits are counted in
      the postings of those words, and only stories with enough of them are scored;
    - numbers: when both titles have a number the other item lacks, the score is 0. So a
      candidate whose title has numbers is compared only with stories holding all of them,
      stories whose own title numbers it holds, and stories with no title number (a cluster
      of "… (112.5)"-style headlines costs nothing but their numbers' postings).

    What the index keeps per story is small: its key, its slot in sorted arrays of postings,
    hashes of its link and title, its title numbers. Fingerprints themselves are kept only
    without a `load`; with one (the store's stories), the last `cache` used are kept and the
    others are loaded, by key, for the few stories that pass the filters above. Stories can be
    removed (they left the window); the index is compacted once most of its slots are gone.
    """

    def __init__(
        self,
        load: Callable[[list[K]], Mapping[K, StoryFingerprint]] | None = None,
        *,
        cache: int = 4096,
    ) -> None:
        self._load = load
        self._cache = cache
        self._slots: dict[K, int] = {}
        self._keys: list[K | None] = []  # by slot; None once removed
        # Every fingerprint (no `load`), or the most recently used ones (an LRU), by slot.
        self._fps: dict[int, StoryFingerprint] = {}
        self._idents: dict[int, int] = {}  # hash of (rule, link or title) → its first slot
        self._more: dict[int, list[int]] = {}  # later slots under the same hash, in order
        self._plain: dict[int, array[int]] = {}  # word → slots of stories with no title number
        self._numbered: dict[int, array[int]] = {}  # word → slots of the others
        self._by_number: dict[int, array[int]] = {}  # one title number → slots filed under it
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
        if _title_identifies(fp):
            self._add_ident(hash((TITLE_RULE, fp.title_norm)), slot)
        if fp.scheme != SCHEME or len(fp.title_words) < MIN_SIGNATURE_WORDS:
            return
        numbers = fp.title_words & fp.numbers
        family = self._numbered if numbers else self._plain
        for word in fp.words:
            family.setdefault(word, array("L")).append(slot)
        if numbers:
            self._title_numbers[slot] = tuple(numbers)
            # A story whose title numbers the candidate must all hold is found under any one
            # of them: the one least filed under so far keeps every list short.
            home = min(numbers, key=lambda n: len(self._by_number.get(n, ())))
            self._by_number.setdefault(home, array("L")).append(slot)

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
        found = self.match(candidate)
        return None if found is None else found.key

    def match(self, candidate: StoryFingerprint) -> IndexMatch[K] | None:
        """What `find` found and by which rule, so that answers of two indexes can be ranked."""
        link, title = candidate.link, candidate.title_norm
        if link is not None:
            slot = self._identified(hash((LINK_RULE, link)), lambda fp: fp.link == link)
            if slot is not None:
                return IndexMatch(LINK_RULE, 1.0, self._key(slot))
        if _title_identifies(candidate):
            slot = self._identified(hash((TITLE_RULE, title)), lambda fp: fp.title_norm == title)
            if slot is not None:
                return IndexMatch(TITLE_RULE, 1.0, self._key(slot))
        words = candidate.title_words
        if candidate.scheme != SCHEME or len(words) < MIN_SIGNATURE_WORDS:
            return None
        needed = math.ceil(NEAR_DUPLICATE_THRESHOLD * len(words) - 1e-9)  # title words to hold
        numbers = words & candidate.numbers
        if not numbers:  # no number to veto with: any story may score
            passed = self._sharing(words, needed, self._plain, self._numbered)
        else:  # stories without title numbers, then those the number rule lets through
            passed = self._sharing(words, needed, self._plain)
            others: set[int] = set()
            rarest = min(numbers, key=lambda n: len(self._numbered.get(n, ())))
            others.update(self._numbered.get(rarest, ()))  # those holding all are among these
            for number in candidate.numbers:
                others.update(self._by_number.get(number, ()))  # those whose numbers it holds
            passed += [
                slot
                for slot in others
                if self._keys[slot] is not None
                and not self._vetoed(slot, numbers, candidate.words)
                and self._holds_at_least(slot, words, needed)
            ]
            passed.sort()
        fps = self._fingerprints(passed)
        best, best_slot = NEAR_DUPLICATE_THRESHOLD, None
        for slot in passed:
            fp = fps.get(slot)
            if fp is None:
                continue
            score = _near_duplicate(candidate, fp)
            if score >= best and (best_slot is None or score > best):
                best, best_slot = score, slot
        return None if best_slot is None else IndexMatch(NEAR_RULE, best, self._key(best_slot))

    # -- filters, in the postings alone ------------------------------------------------------

    def _sharing(
        self, words: frozenset[int], needed: int, *families: dict[int, array[int]]
    ) -> list[int]:
        """The live stories in `families` holding at least `needed` of `words`, in slot order.

        Hits are counted over the words' postings (in C: Counter over the joined arrays); the
        few longest lists (a word in more than an eighth of the stories) are not read but
        bisected for the stories the others left, as long as the count alone can still rule
        a story out (fewer than `needed` words skipped).
        """
        length = {w: sum(len(family.get(w, ())) for family in families) for w in words}
        ordered = sorted(words, key=length.__getitem__)
        common = max(256, len(self._slots) // 8)
        skip = min(needed - 1, sum(1 for w in ordered if length[w] > common))
        counted, skipped = ordered[: len(ordered) - skip], ordered[len(ordered) - skip :]
        hits = Counter(
            chain.from_iterable(family[w] for w in counted for family in families if w in family)
        )
        passed = []
        for slot, held in hits.items():
            if held + skip < needed or self._keys[slot] is None:
                continue
            if skip and not self._holds_at_least(slot, skipped, needed - held):
                continue
            passed.append(slot)
        passed.sort()
        return passed

    def _holds(self, slot: int, word: int) -> bool:
        """Whether the story in `slot` has `word` (title or lede), by bisecting its postings."""
        family = self._numbered if slot in self._title_numbers else self._plain
        postings = family.get(word)
        if postings is None:
            return False
        i = bisect_left(postings, slot)
        return i < len(postings) and postings[i] == slot

    def _holds_at_least(self, slot: int, words: Collection[int], needed: int) -> bool:
        """Whether the story in `slot` holds `needed` of `words` (stopping once it cannot)."""
        missing = len(words) - needed  # how many of `words` the story may lack
        for word in words:
            if not self._holds(slot, word):
                missing -= 1
                if missing < 0:
                    return False
        return True

    def _vetoed(self, slot: int, numbers: frozenset[int], words: frozenset[int]) -> bool:
        """The number rule of `_near_duplicate`: both titles have a number the other lacks."""
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
                kept = array("L", (moved[s] for s in postings if moved[s] >= 0))
                if kept:
                    family[word] = kept
                else:
                    del family[word]
        idents, more = self._idents, self._more
        self._idents, self._more = {}, {}
        for ident, first in idents.items():
            chain: list[int] = [first, *more.get(ident, [])]
            for slot in chain:
                if moved[slot] >= 0:
                    self._add_ident(ident, moved[slot])


# -- outlets ---------------------------------------------------------------------------------

# Hosts whose links only redirect to an article elsewhere: they name no outlet.
_REDIRECT_HOSTS = frozenset({"news.google.com", "feedproxy.google.com", "feeds.feedburner.com"})
# Subdomains that serve one outlet's pages in another form ("m.bbc.co.uk" is bbc.co.uk).
_ALIAS_PREFIXES = ("www.", "m.", "amp.", "mobile.")
# Second-level labels that a country code's registrations sit under ("bbc.co.uk").
_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "gov", "ne", "net", "or", "org"})
# Domains whose subdomains are different outlets ("x.substack.com" is x's, not Substack's).
_SHARED_DOMAINS = frozenset(
    {"blogspot.com", "go.com", "medium.com", "substack.com", "tumblr.com", "wordpress.com"}
)
# A publisher given as a domain, as GDELT does ("reuters.com").
_DOMAIN = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$")


def _name_key(name: str) -> str:
    """`name` folded and squeezed to letters and digits, without a leading "the".

    Spaces go too, so that a name and its domain agree ("Al Jazeera", aljazeera.com).
    """
    key = normalised_title(name).replace(" ", "")
    return key.removeprefix("the") if key.startswith("the") and len(key) >= 6 else key


def _host_key(host: str) -> str:
    """The outlet a host belongs to: its registrable name without the public suffix."""
    host = host.rstrip(".")
    labels = host.split(".")
    if len(labels) < 2 or ":" in host or all(label.isdigit() for label in labels):
        return host  # an IP address or a single-label name: nothing to strip
    # A two-letter country code under a generic second level is one suffix ("co.uk").
    suffix = 2 if len(labels) > 2 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 1
    name = labels[:-suffix]
    if len(name) > 1 and ".".join(labels[-suffix - 1 :]) in _SHARED_DOMAINS:
        return _name_key(name[-2] + name[-1])
    return _name_key(name[-1])


def _link_host(link: str | None) -> str | None:
    """The lower-cased host of `link` without aliasing subdomains, or None if it has none."""
    if not link:
        return None
    try:
        host = urlsplit(link.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    while host.startswith(_ALIAS_PREFIXES) and host.count(".") > 1:
        host = host.split(".", 1)[1]
    return host


def outlet_key(link: str | None, publisher: str | None, source_id: str) -> str:
    """Who published a copy, spelled alike whichever source found it ("reuters.com", "Reuters").

    The host of the copy's link decides, so two copies with one canonical link are always one
    outlet. A redirect link (Google News) names no outlet, so the publisher the aggregator
    names decides (else the link itself); a copy with neither link nor publisher is our source's.
    """
    host = _link_host(link)
    if host is not None and host not in _REDIRECT_HOSTS:
        return _host_key(host)
    if publisher:
        name = publisher.strip().casefold()
        key = _host_key(name) if _DOMAIN.match(name) else _name_key(name)
        if key:
            return key
    if link is not None and host is not None:
        return f"link:{canonical_link(link)}"
    return f"source:{source_id}"
