"""Story fingerprints and the rule that says two items report one event. Pure: no I/O, no clock.

fingerprint(title, summary, link) → StoryFingerprint   once per entry; the store keeps to_text()
fingerprint_of(entry_text, link)                       the same, reusing the matcher's tokens
merge_reason(a, b) → MergeReason                       the score, and the terms the two share
same_story(a, b), similarity(a, b)                     the verdict and the score alone
find_story(candidate, [(key, fingerprint), ...])       the best known story in the window, or None

The rules, in order (the first that applies decides):
1. the same canonical link is the same story;
2. the same normalised title is the same story, unless the title is too short or generic to
   identify one (fewer than MIN_TITLE_WORDS words, or a live blog: "Live updates: ...");
3. otherwise the event score (below) must reach NEAR_DUPLICATE_THRESHOLD.

The signature of an item is four sets of hashed terms: its title's content words, its lede's
(the first LEDE_WORDS content words of the summary), the numbers among them ("5%", "2035",
"250billion" for "$250bn") and its named entities (words written with a capital inside a
sentence: "NATO", "Hague", "Rutte"; demonyms fold to their place, "Spanish" → spain). Each
hashed term carries its rarity (a level 0-7 from `common_words`, a document-frequency table of
the project's own dev pairs) in its top bits, so two fingerprints compare by set operations
alone and a shared rare word ("pituffik") outweighs a shared topic word ("tariff").

The score, with W the summed rarity of a set:
  - title containment: the smaller of the shares of each title's weight found anywhere in the
    other item; below TITLE_GATE the score is 0 (the index relies on it);
  - overlap: W(shared terms) / the smaller item's W, over title and lede;
  - 0.7 containment + 0.3 overlap, plus bonuses for what pins an event down: each shared named
    entity (up to 4), each shared number (up to 2), a shared weekday.
Vetoes (score 0): both titles hold a number the other item lacks ("5%" vs "2%"; a number one
side leaves out is fine); both titles name a country the other item never mentions (two deals);
one item previews an event ("set to", "this week", a lede's "next week") and the other does
not (a summit's run-up and its decision are two stories); both were published on days
certainly more than DEFAULT_WINDOW apart (three days or more: items of one poll are compared
with each other whatever their age).

The window over stored stories is the caller's: `find_story` compares against what it is given.
A wrong merge loses an alert, a missed merge only repeats one, so the threshold favours precision.
"""

from __future__ import annotations

import base64
import math
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import TypeVar

from bot.matching.text import EntryText
from bot.sources.entries import canonical_link, normalised_title
from bot.stories.common_words import DOCUMENTS, FREQUENCY
from bot.stories.words import (
    COUNTRIES,
    LEDE_PREVIEW,
    LIVE,
    MIN_TITLE_WORDS,
    PREVIEW,
    clean_span,
    clean_title,
    content_words,
    is_number,
    title_case,
)

__all__ = [
    "DEFAULT_WINDOW",
    "NEAR_DUPLICATE_THRESHOLD",
    "SCHEME",
    "MergeReason",
    "StoryFingerprint",
    "clean_title",
    "event_score",
    "find_story",
    "fingerprint",
    "fingerprint_of",
    "merge_reason",
    "same_story",
    "score_bound",
    "similarity",
    "title_identifies",
    "units",
    "weight",
]

K = TypeVar("K")

# The signature scheme; bump it when tokens, hashing, weights or the lede length change. Rows
# written under another scheme ("sw1", before weights and entities) keep their link and title
# rules but never near-match.
SCHEME = "sw2"
# How far back the caller should look for a story to join (the default).
DEFAULT_WINDOW = timedelta(hours=48)
# Chosen on pairs_dev.jsonl with the 48 h window: tests/data/stories/README.md has the sweep.
NEAR_DUPLICATE_THRESHOLD = 0.40
# Each title must find at least this share of its weight in the other item.
TITLE_GATE = 0.2
# How much of the base score is title containment (the rest: overlap of title and lede).
CONTAINMENT_SHARE = 0.8
# What each shared named entity adds to the score, and how many count.
ENTITY_BONUS = 0.04
ENTITY_CAP = 4
# What each shared number ("5%", "2035", "250billion") adds, and how many count.
NUMBER_BONUS = 0.05
NUMBER_CAP = 2
# What a shared weekday ("on Sunday") adds: both reports put the event on one day.
DAY_BONUS = 0.05
# Titles with fewer content words than this are not compared as near-duplicates at all.
MIN_SIGNATURE_WORDS = 3
# How much of the summary is signed: ledes agree early and drift apart later.
LEDE_WORDS = 40
# How many shared terms a MergeReason keeps (rarest first): enough for an admin to judge.
REASON_TERMS = 8

# Characters a fingerprint's text form uses as separators.
_UNSAFE = re.compile(r"[\t\n\r]")

# A hashed term: its rarity level in the top 3 bits of 24, a 21-bit hash of the word below.
_LEVEL_SHIFT = 21
_HASH_MASK = (1 << _LEVEL_SHIFT) - 1
_MAX_LEVEL = 7


def _level(word: str) -> int:
    """The word's rarity, 0 (in most documents) to 7: its inverse document frequency, rounded."""
    seen = FREQUENCY.get(word, 0)
    return min(_MAX_LEVEL, round(math.log((DOCUMENTS + 1) / (seen + 1))))


# What a term of each level weighs in a score: its inverse document frequency (≥ 0.5).
_WEIGHTS = tuple(max(0.5, float(level)) for level in range(_MAX_LEVEL + 1))


_UNITS = tuple(math.ceil(w) for w in _WEIGHTS)


def weight(term: int) -> float:
    """The weight of one hashed term (its rarity)."""
    return _WEIGHTS[term >> _LEVEL_SHIFT]


def _weigh(terms: Iterable[int]) -> float:
    return sum(_WEIGHTS[t >> _LEVEL_SHIFT] for t in terms)


@lru_cache(maxsize=1 << 16)  # news vocabulary repeats: most words are hashed many times
def _hash(word: str) -> int:
    """A stable 24-bit term (Python's hash() is salted per process; rows outlive processes)."""
    return _level(word) << _LEVEL_SHIFT | zlib.crc32(word.encode("utf-8")) & _HASH_MASK


_WEEKDAYS = frozenset(
    map(_hash, ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
)


_COUNTRY_TERMS = frozenset(map(_hash, COUNTRIES))


def _safe_link(link: str) -> str:
    """`link` canonical, with tabs and line breaks percent-encoded (they are never meaningful)."""
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", canonical_link(link))


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
    return frozenset(int.from_bytes(raw[i : i + 3], "big") for i in range(0, len(raw), 3)) or _NONE


_NO_TERMS: Mapping[int, str] = MappingProxyType({})
_NONE: frozenset[int] = frozenset()
_EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class StoryFingerprint:
    """What identifies a news item's story: link, normalised title, the event signature."""

    link: str | None
    title_norm: str | None
    title_words: frozenset[int] = frozenset()
    lede_words: frozenset[int] = frozenset()
    # Terms with digits ("5%", "2035"), title and lede: numbers must agree.
    numbers: frozenset[int] = frozenset()
    # Named actors and places (title and lede), a subset of the words.
    entities: frozenset[int] = frozenset()
    # The item previews an event ("set to adopt", "to sign this week", "next week's summit").
    preview: bool = False
    # The UTC day it was published (days since 1970-01-01), when known.
    day: int | None = None
    scheme: str = SCHEME
    # The words behind the hashes, for explaining a merge; never stored (a loaded row has none).
    terms: Mapping[int, str] = field(default_factory=lambda: _NO_TERMS, repr=False, compare=False)
    words: frozenset[int] = field(init=False, repr=False, compare=False)
    # Computed once, for scoring: the summed weights of the title words and of all words, the
    # title's numbers and countries (the vetoes), the weekdays named.
    title_weight: float = field(init=False, repr=False, compare=False)
    weight: float = field(init=False, repr=False, compare=False)
    title_numbers: frozenset[int] = field(init=False, repr=False, compare=False)
    title_places: frozenset[int] = field(init=False, repr=False, compare=False)
    days: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, value in (("link", self.link), ("title_norm", self.title_norm)):
            if value is not None and _UNSAFE.search(value):
                raise ValueError(
                    f"story fingerprint: {name} {value[:60]!r} has a tab or line break"
                )
        words = self.title_words | self.lede_words
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "title_weight", _weigh(self.title_words))
        object.__setattr__(self, "weight", _weigh(words))
        # The derived sets are mostly empty: one shared empty set, not one per fingerprint.
        object.__setattr__(self, "title_numbers", self.title_words & self.numbers or _NONE)
        object.__setattr__(self, "title_places", self.title_words & _COUNTRY_TERMS or _NONE)
        object.__setattr__(self, "days", words & _WEEKDAYS or _NONE)

    def to_text(self) -> str:
        """One line for a TEXT column: scheme, link, title, then the signature."""
        link, title = self.link or "", self.title_norm or ""
        if self.scheme != SCHEME:  # a foreign signature cannot be re-encoded; keep what we know
            return f"{self.scheme}\t{link}\t{title}"
        sets = (self.title_words, self.lede_words, self.numbers, self.entities)
        flags = "p" if self.preview else ""
        day = "" if self.day is None else str(self.day)
        return "\t".join((self.scheme, link, title, *map(_encode, sets), flags, day))

    @classmethod
    def from_text(cls, text: str) -> StoryFingerprint:
        """Parse `to_text()` output; another scheme's row (an older version's) keeps its link
        and title, and no signature."""
        fields = text.split("\t")
        if len(fields) < 3 or not fields[0].startswith("sw"):
            raise ValueError(
                f"story fingerprint: expected 'sw<N>\\tlink\\ttitle...', got {text[:60]!r}"
            )
        scheme, link, title = fields[0], fields[1] or None, fields[2] or None
        if scheme != SCHEME:
            return cls(link, title, scheme=scheme)
        if len(fields) != 9:
            raise ValueError(f"story fingerprint: {scheme} needs 9 fields, got {len(fields)}")
        if fields[7] not in ("", "p"):
            raise ValueError(f"story fingerprint: unknown flags {fields[7][:20]!r}")
        if fields[8] and not fields[8].lstrip("-").isdigit():
            raise ValueError(f"story fingerprint: day {fields[8][:20]!r} is not a number")
        return cls(
            link,
            title,
            _decode(fields[3], "title words"),
            _decode(fields[4], "lede words"),
            _decode(fields[5], "numbers"),
            _decode(fields[6], "entities"),
            preview=fields[7] == "p",
            day=int(fields[8]) if fields[8] else None,
        )


def fingerprint(
    title: str, summary: str, link: str | None, published: datetime | date | None = None
) -> StoryFingerprint:
    """The fingerprint of one news item (`summary` as plain text; `published` when known)."""
    return fingerprint_of(EntryText(title, summary), link, published)


def fingerprint_of(
    text: EntryText, link: str | None, published: datetime | date | None = None
) -> StoryFingerprint:
    """The fingerprint of an item's text as the matcher read it: its tokens are reused."""
    title, summary = text.title, text.summary
    start, end = clean_span(title)
    cleaned = title[start:end]
    live = bool(LIVE.search(cleaned))
    title_norm = normalised_title(cleaned) or None
    # The cleaned title's tokens are the title's that lie inside it (a label ends, and a
    # publisher suffix begins, at a break between words).
    inside = [t for t in text.tokens(0) if t.start >= start and t.end <= end]
    title_words, title_entities = content_words(title, inside, start)
    lede_words, lede_entities = content_words(summary, text.tokens(1), 0, LEDE_WORDS)
    if title_case(cleaned):  # every word has a capital: trust only names the lede confirms
        title_entities &= lede_entities | {w for w in title_words if is_number(w)}
    terms = {_hash(w): w for w in (*title_words, *lede_words)}
    numbers = {w for w in (*title_words, *lede_words) if is_number(w)}
    return StoryFingerprint(
        link=_safe_link(link) if link and link.strip() else None,
        # A live blog's title names a running page, not a story: keep it out of the title rule.
        title_norm=None if live else title_norm,
        title_words=frozenset() if live else frozenset(map(_hash, title_words)),
        lede_words=frozenset(map(_hash, lede_words)),
        numbers=frozenset(map(_hash, numbers)),
        entities=frozenset(map(_hash, title_entities | lede_entities)),
        preview=bool(PREVIEW.search(cleaned) or LEDE_PREVIEW.search(summary)),
        day=_day(published),
        terms=MappingProxyType(terms),
    )


@dataclass(frozen=True, slots=True)
class MergeReason:
    """Why two items were taken for one story: the score and what they share, rarest first
    (named entities, then numbers, then words), or the rule ("same link", "same headline")."""

    shared: tuple[str, ...]
    score: float

    def describe(self) -> str:
        """ "nato, hague, 5%, 2035" (or "same link")."""
        return ", ".join(self.shared)


def title_identifies(fp: StoryFingerprint) -> bool:
    """True when a title is long enough that two items sharing it share a story."""
    return fp.title_norm is not None and fp.title_norm.count(" ") + 1 >= MIN_TITLE_WORDS


def units(term: int) -> int:
    """The weight of one hashed term rounded up to a whole number (what the index counts)."""
    return _UNITS[term >> _LEVEL_SHIFT]


def _day(published: datetime | date | None) -> int | None:
    """Days since 1970-01-01 of the UTC day `published` falls on (a naive time is UTC)."""
    if published is None:
        return None
    if isinstance(published, datetime):
        if published.tzinfo is not None:
            published = published.astimezone(UTC)
        published = published.date()
    return (published - _EPOCH_DAY).days


def _days_apart(a: StoryFingerprint, b: StoryFingerprint) -> bool:
    """The dates rule: published on days so far apart that the two are certainly further
    apart than DEFAULT_WINDOW (days d apart are at least d - 1 days apart)."""
    if a.day is None or b.day is None:
        return False
    return (abs(a.day - b.day) - 1) * timedelta(days=1) >= DEFAULT_WINDOW


def _vetoed(a: StoryFingerprint, b: StoryFingerprint) -> bool:
    """The numbers rule: both titles hold a number the other item lacks."""
    return bool(a.title_numbers - b.words and b.title_numbers - a.words)


def _other_parties(a: StoryFingerprint, b: StoryFingerprint) -> bool:
    """The places rule: both titles name a country the other item never mentions ("U.S. and
    Japan agree" / "EU and US agree": two deals, whatever else they share)."""
    return bool(a.title_places - b.words and b.title_places - a.words)


def event_score(a: StoryFingerprint, b: StoryFingerprint) -> float:
    """The event score (0 to 1, plus the bonuses); 0 when a rule vetoes. The cheapest
    rejections come first: the index scores every story its postings let through."""
    if a.scheme != SCHEME or b.scheme != SCHEME or a.preview != b.preview:
        return 0.0
    ta, tb = a.title_words, b.title_words
    if len(ta) < MIN_SIGNATURE_WORDS or len(tb) < MIN_SIGNATURE_WORDS:
        return 0.0
    held_a = _weigh(ta & b.words) / a.title_weight
    if held_a < TITLE_GATE:
        return 0.0
    held_b = _weigh(tb & a.words) / b.title_weight
    if held_b < TITLE_GATE or _vetoed(a, b) or _other_parties(a, b) or _days_apart(a, b):
        return 0.0
    shared = a.words & b.words
    overlap = _weigh(shared) / min(a.weight, b.weight)
    score = CONTAINMENT_SHARE * min(held_a, held_b) + (1 - CONTAINMENT_SHARE) * overlap
    score += ENTITY_BONUS * min(ENTITY_CAP, len(a.entities & b.entities))
    score += NUMBER_BONUS * min(NUMBER_CAP, len(shared & a.numbers))
    if a.days & b.days:
        score += DAY_BONUS
    return score


def score_bound(a: StoryFingerprint, title_share: float) -> float:
    """The most `event_score(a, b)` can be for a `b` holding at most `title_share` of the
    weight of `a`'s title: what lets the index stop scoring once no story left can win."""
    bonus = ENTITY_BONUS * min(ENTITY_CAP, len(a.entities))
    bonus += NUMBER_BONUS * min(NUMBER_CAP, len(a.numbers))
    bonus += DAY_BONUS if a.days else 0.0
    share = min(1.0, title_share)
    return CONTAINMENT_SHARE * share + (1 - CONTAINMENT_SHARE) + bonus + 1e-9


def _shared_terms(a: StoryFingerprint, b: StoryFingerprint) -> tuple[str, ...]:
    """The words behind the terms `a` and `b` share: entities, numbers, then the rest, each
    rarest first (the words come from whichever fingerprint still knows them)."""
    known = a.terms or b.terms
    shared = a.words & b.words
    entities = a.entities & b.entities

    def rank(term: int) -> tuple[int, float, str]:
        kind = 0 if term in entities else 1 if term in a.numbers else 2
        return (kind, -weight(term), known.get(term, ""))

    ordered = sorted((t for t in shared if t in known), key=rank)
    return tuple(known[t] for t in ordered[:REASON_TERMS])


def merge_reason(a: StoryFingerprint, b: StoryFingerprint) -> MergeReason:
    """The score of `a` against `b` and what it rests on (a score of 0 shares nothing)."""
    if a.link is not None and a.link == b.link:
        return MergeReason(("same link",), 1.0)
    if a.title_norm == b.title_norm and title_identifies(a):
        return MergeReason(("same headline",), 1.0)
    score = event_score(a, b)
    return MergeReason(_shared_terms(a, b) if score > 0 else (), score)


def similarity(a: StoryFingerprint, b: StoryFingerprint) -> float:
    """1.0 for the same link or identifying title, else the event score."""
    return merge_reason(a, b).score


def same_story(a: StoryFingerprint, b: StoryFingerprint) -> bool:
    """True when `a` and `b` report the same story (link, then title, then the event score)."""
    return similarity(a, b) >= NEAR_DUPLICATE_THRESHOLD


def find_story(
    candidate: StoryFingerprint, known: Iterable[tuple[K, StoryFingerprint]]
) -> K | None:
    """The key of the known story `candidate` belongs to, or None.

    A link match wins outright, then the first title match, then the highest event score at
    or above the threshold (the first of equals).
    """
    title_key: tuple[K] | None = None  # a 1-tuple, so that a falsy key is still found
    best_key: tuple[K] | None = None
    best = NEAR_DUPLICATE_THRESHOLD
    link = candidate.link
    title = candidate.title_norm if title_identifies(candidate) else None
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
            score = event_score(candidate, fp)
            if score >= best and (best_key is None or score > best):
                best, best_key = score, (key,)
    if title_key is not None:
        return title_key[0]
    return best_key[0] if best_key is not None else None
