"""Which spellings of a query word really occur in English: for APIs that match words exactly.

    prefix_forms("semiconductor")  → ["semiconductor", "semiconductors"]   (a prefix* term)
    inflections("pact")            → ["pact", "pacts"]     (a noun that takes a plural)
    inflections("gaza")            → ["gaza"]              (no "gazas": not a word)
    inflections("halt")            → ["halt", "halts"]     (the verb's -s form)
    frequency("treaty")            → how often the word occurs, per word of English text

Our matcher folds plurals by rule (`fold_word`: pacts = pact) and reads `prefix*` as every
word that starts so; an API that matches exact words needs those spellings spelled out, and
only the ones that occur are worth the query's length. Two well-kept word lists decide:

- wordfreq's English list (words seen at least once per 100 million, with their frequency):
  the words a prefix stands for, and whether a rule-made spelling ever occurs;
- lemminflect's inflection dictionary: whether a word is a noun that takes a plural (and
  which: "securities", never "securitys") or a verb whose -s form folds to it ("halts").

Both load once, on first use: about 1 s and 50 MB (wordfreq's list is kept as one sorted
string and two arrays, 4 MB, rather than its 50 MB dict; lemminflect brings numpy).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Final

from bot.matching.normalize import fold_word

__all__ = ["MAX_PREFIX_FORMS", "frequency", "inflections", "prefix_forms"]

# A prefix that stands for more words than this (sign* → sign, signal, significant, …) is
# searched as "anything": that many words say little, and would crowd out the rest.
MAX_PREFIX_FORMS: Final = 12
# Words rarer than this (Zipf scale: 1.5 = about 3 per 100 million words) are left out of a
# prefix's forms unless they inflect a form that is kept ("chipmakers" for "chipmaker").
PREFIX_FLOOR: Final = 1.5
# A spelling our folding rule makes for a word lemminflect does not know (a name, an
# acronym) is sent only when it is this common: "MoUs" (2.1) yes, "Gazas" (never) no.
UNKNOWN_PLURAL_FLOOR: Final = 2.0


class _Lexicon:
    """wordfreq's English words, alphabetic only, sorted, with their Zipf frequency."""

    def __init__(self) -> None:
        from wordfreq import DATA_PATH, read_cBpack

        # The file itself, not get_frequency_list(): that keeps every list in a cache, and
        # finds the file through langcodes' language data (about 40 MB more in all).
        buckets = read_cBpack(str(Path(DATA_PATH) / "large_en.msgpack.gz"))
        # Bucket i holds the words of frequency 10^(-i/100): Zipf 9 - i/100, kept to a tenth.
        rows = [
            f"{w}\t{chr(48 + max(0, round(90 - i / 10)))}"
            for i, words in enumerate(buckets)
            for w in words
            if w.isascii() and w.isalpha()
        ]
        del buckets
        rows.sort()
        self._zipf10 = bytes(ord(r[-1]) - 48 for r in rows)
        self._text = "\n".join(r[:-2] for r in rows)
        self._starts = array("I")
        position = 0
        for row in rows:
            self._starts.append(position)
            position += len(row) - 1  # the word and its "\n"

    def __len__(self) -> int:
        return len(self._starts)

    def word(self, i: int) -> str:
        start = self._starts[i]
        end = self._text.find("\n", start)
        return self._text[start:] if end < 0 else self._text[start:end]

    def _left(self, key: str) -> int:
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.word(mid) < key:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def zipf(self, word: str) -> float:
        """The word's Zipf frequency (0 where the list does not have it)."""
        i = self._left(word)
        return self._zipf10[i] / 10 if i < len(self) and self.word(i) == word else 0.0

    def starting(self, prefix: str) -> list[tuple[str, float]]:
        """Every word that starts with `prefix`, with its Zipf frequency."""
        out = []
        i = self._left(prefix)
        while i < len(self):
            word = self.word(i)
            if not word.startswith(prefix):
                break
            out.append((word, self._zipf10[i] / 10))
            i += 1
        return out


@cache
def _lexicon() -> _Lexicon:
    return _Lexicon()


def zipf(word: str) -> float:
    """How common `word` is on the Zipf scale (log10 per billion words); 0 if never seen."""
    return _lexicon().zipf(word.lower())


def frequency(word: str) -> float:
    """How often `word` occurs, per word of English text (1e-8 where the list lacks it)."""
    z = zipf(word)
    return 10 ** (max(z, 1.0) - 9)  # a word not in the list is rarer than any in it


@lru_cache(maxsize=4096)
def prefix_forms(prefix: str) -> tuple[str, ...] | None:
    """The words `prefix*` stands for, most frequent first; None where they are too many."""
    prefix = prefix.lower()
    words = _lexicon().starting(prefix)
    kept = {w for w, z in words if z >= PREFIX_FLOOR}
    # A rarer spelling that inflects a kept word stays ("chipmakers" of "chipmaker").
    kept |= {w for w, _ in words if fold_word(w) in kept or fold_word(w) == prefix}
    if not kept and words:
        kept = {w for w, _ in words}  # a rare word's prefix: all its forms are rare
    if len(kept) > MAX_PREFIX_FORMS:
        return None
    ranked = sorted(((z, w) for w, z in words if w in kept), key=lambda zw: (-zw[0], zw[1]))
    return tuple(w for _, w in ranked)


@lru_cache(maxsize=4096)
def inflections(word: str) -> tuple[str, ...]:
    """`word` and the spellings our plural folding maps it to that really occur.

    A noun's plurals and a verb's -s form, as lemminflect knows them ("pact" → pacts,
    "security" → securities, "halt" → halts); for a word it does not know (a name, an
    acronym), the rule-made spellings common enough in wordfreq's list ("mou" → mous).
    Only spellings that fold to the same word as `word` are kept: those are what our matcher
    finds for it.
    """
    base = fold_word(word)
    # The rule-made spellings, as our folding would take them back to `base`.
    candidates = [s for s in _rule_spellings(base) if fold_word(s) == base]
    known = _lemminflect_forms(base)
    out = [word]
    if base != word and (known is not None or zipf(base) >= UNKNOWN_PLURAL_FLOOR):
        out.append(base)  # "troops" → troop, a word of its own
    if known is not None:
        out += [s for s in known if fold_word(s) == base and zipf(s) > 0]
    else:
        # A plural a thousand times rarer than its word is a typo or another word ("thes").
        floor = max(UNKNOWN_PLURAL_FLOOR, zipf(base) - 3)
        out += [s for s in candidates if zipf(s) >= floor]
    return tuple(dict.fromkeys(out))


def _rule_spellings(base: str) -> Sequence[str]:
    spellings = [base + "s", base + "es"]
    if base.endswith("y"):
        spellings.append(base[:-1] + "ies")
    return spellings


def _lemminflect_forms(base: str) -> list[str] | None:
    """The plurals and -s forms lemminflect lists for `base`; None where it does not know it."""
    # Its inflection table only: the lemmatizer's (getAllLemmas) would cost 40 MB more.
    from lemminflect import getAllInflections

    nouns = getAllInflections(base, upos="NOUN")
    verbs = getAllInflections(base, upos="VERB")
    if not nouns and not verbs and not getAllInflections(base):
        return None
    return [*nouns.get("NNS", ()), *verbs.get("VBZ", ())]


def phrase_frequency(words: Sequence[str]) -> float:
    """A rough share of text positions where this phrase starts: its rarest word's frequency,
    a tenth of that for each further word (adjacent words are far from independent)."""
    if not words:
        return 0.0
    return min(frequency(w) for w in words) * 0.1 ** (len(words) - 1)


def group_share(phrases: Sequence[Sequence[str]], words_per_item: int = 60) -> float:
    """About what share of news items (title and summary, ~60 words) holds one of `phrases`."""
    expected = sum(phrase_frequency(p) for p in phrases) * words_per_item
    return 1.0 - math.exp(-expected)
