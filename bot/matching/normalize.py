"""Text normalisation shared by queries and news text, so both sides meet in one form.

A text becomes a list of `Token`s, each a normalised word with the character span it came
from (for explanations). The same function normalises query terms, so the rules below hold
for both sides by construction:

- case and accents are folded (`Panamá` → `panama`, `Österreich` → `osterreich`);
- hyphens and other punctuation split words (`cease-fire` → `cease fire`); the matcher adds
  joined and split variants of query words, so `ceasefire`, `cease-fire` and `cease fire` meet;
- dotted acronyms close up (`U.S.` → `us`), possessives drop (`NATO's` → `nato`);
- percentages become one token: `5%`, `5 %`, `5 percent`, `5 per cent`, `5pc`, `five per cent`,
  `5.0%` are all `5%` (`3.5 per cent` is `3.5%`); thousands separators drop (`1,000` → `1000`);
  `bn`/`mn`/`tn` become `billion`/`million`/`trillion`;
- plurals fold with a light, predictable "S-stemmer" (`pacts` → `pact`, `allies` → `ally`,
  `matches` → `match`). Other inflections are not folded here: the matcher adds a query
  word's forms to the query instead (`bot.matching.inflect`: `agree` → agreed, agreeing), so
  news text is never lemmatised. We chose this over a full stemmer because a Porter/Snowball
  stem conflates words that news must keep apart (`accord`/`according`, `general`/`generous`
  → `gener`).

Pure: no I/O, no global state but a bounded memo of word → normal form.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

__all__ = ["Token", "fold_text", "fold_word", "normal_form", "scrub_surrogates", "tokenize"]


class Token(NamedTuple):
    """A normalised token and the [start, end) character span of its source text.

    A named tuple rather than a frozen dataclass: an item's tokens are made by the hundred,
    and a tuple is made several times faster."""

    text: str
    start: int
    end: int


# One alternation, tried left to right at each position (no groups: findall gives strings).
_CHUNK = re.compile(
    r"\d+(?:[.,]\d+)*"  # numbers with inner separators: "3.5", "1,000", "2025"
    r"|(?:[^\W\d_]\.){2,}"  # dotted acronyms of two or more letters: "U.S.", "U.N."
    r"|[^\W_]+(?:['’][^\W_]+)*"  # words, with inner apostrophes: "NATO's", "d'Ivoire"
    r"|%"  # a percent sign, merged into the number before it
)

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40",
    "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100",
}  # fmt: skip
_UNIT_WORDS = {"bn": "billion", "mn": "million", "tn": "trillion", "trn": "trillion"}
# Words that end in s but are not plurals, and are common enough in news to matter.
_NOT_PLURAL = frozenset({"news", "series", "species", "always", "perhaps", "whereas", "thus"})
# Letters NFKD does not decompose but readers treat as their base letter.
_EXTRA_FOLDS = str.maketrans(
    {"ø": "o", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"}
)

_WORD_MEMO: dict[tuple[str, bool], str] = {}
# Bounded: news vocabulary is large but skewed; 50k words (~15 MB) keep the hit rate high.
_WORD_MEMO_LIMIT = 50_000


_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub_surrogates(text: str) -> str:
    """`text` with each lone surrogate (not a character; UTF-8 cannot hold it) as U+FFFD.

    One for one, so character offsets still hold. JSON and YAML escapes like "\\ud800" put
    them in feed text and queries; RE2 and every UTF-8 writer would fail on them.
    """
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def fold_text(text: str) -> str:
    """Case- and accent-fold a string, keeping its length where the input is ASCII."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.translate(_EXTRA_FOLDS)


def _fold_plural(word: str) -> str:
    """Fold an English plural to its singular with a few suffix rules (an S-stemmer)."""
    n = len(word)
    if n <= 3 or word[-1] != "s" or word in _NOT_PLURAL or not word[-2].isalpha():
        return word
    if word.endswith("ies") and n > 4 and word[-4] not in "ae":
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


def fold_word(raw: str, *, plural: bool = True) -> str:
    """Normalise one word: fold case/accents, drop possessive and apostrophes, fold plural."""
    key = (raw, plural)
    cached = _WORD_MEMO.get(key)
    if cached is not None:
        return cached
    word = fold_text(raw).replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace("'", "")
    word = _UNIT_WORDS.get(word, word)
    if plural:
        word = _fold_plural(word)
    if len(_WORD_MEMO) >= _WORD_MEMO_LIMIT:
        _WORD_MEMO.clear()
    _WORD_MEMO[key] = word
    return word


def _canonical_number(raw: str) -> str:
    """`1,000` → `1000`, `3,5` → `3.5` (decimal comma), `5.0` → `5`, `3.50` → `3.5`."""
    parts = re.split(r"[.,]", raw)
    seps = re.findall(r"[.,]", raw)
    if len(parts) == 1:
        return raw
    # Every separator followed by exactly three digits is a thousands separator, except a
    # lone "." which is a decimal point in English ("1.500" is rare next to "1.5").
    if all(len(p) == 3 for p in parts[1:]) and not (len(seps) == 1 and seps[0] == "."):
        return "".join(parts)
    whole, frac = "".join(parts[:-1]), parts[-1]
    frac = frac.rstrip("0")
    return f"{whole}.{frac}" if frac else whole


# Chunk → normal form, one memo with plural folding and one without (keyed by the chunk alone:
# a lookup per token is the hot path of both `normal_form` and `tokenize`).
_CHUNK_MEMO: dict[str, str] = {}
_CHUNK_MEMO_RAW: dict[str, str] = {}


def _normal_chunk(chunk: str, plural: bool = True) -> str:
    """The normal form of one chunk of `_CHUNK` (memoised): number, acronym or word."""
    memo = _CHUNK_MEMO if plural else _CHUNK_MEMO_RAW
    cached = memo.get(chunk)
    if cached is not None:
        return cached
    if chunk[0].isdigit() and _NUMBER.fullmatch(chunk):
        out = _canonical_number(chunk)
    elif chunk[-1] == "." and len(chunk) > 2:
        out = fold_text(chunk.replace(".", ""))
    elif chunk == "%":
        out = "%"
    else:
        out = fold_word(chunk, plural=plural)
    out = out.replace(" ", "")  # NFKD can introduce spaces; a token never holds one
    if len(memo) >= _WORD_MEMO_LIMIT:
        memo.clear()
    memo[chunk] = out
    return out


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PERCENT_AFTER = ("%", "percentage", "percent", "pct", "pc", "per cent")
_PERCENT_WORDS = frozenset(_PERCENT_AFTER)
# The same merge as `tokenize` applies, written over the space-joined normal form.
_PERCENT_MERGE = re.compile(
    r"(?<![^ ])(\d+(?:\.\d+)?|"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r") (?:"
    + "|".join(_PERCENT_AFTER)
    + r")(?![^ ])"
)


def _percent_replacement(m: re.Match[str]) -> str:
    return _NUMBER_WORDS.get(m.group(1), m.group(1)) + "%"


def normal_form(text: str) -> str:
    """The space-joined normal forms of `text`'s tokens: `" ".join(t.text for t in tokenize)`.

    The fast path of matching: no spans, no per-token objects. `tokenize` gives the same
    words with their spans, for explanations (a property test holds the two together).
    """
    memo = _CHUNK_MEMO
    words = []
    for chunk in _CHUNK.findall(text):
        word = memo.get(chunk)
        if word is None:
            word = _normal_chunk(chunk)
        if word:
            words.append(word)
    joined = " ".join(words)
    if "%" in joined or "per" in joined or "pc" in joined:
        joined = _PERCENT_MERGE.sub(_percent_replacement, joined)
    return joined


def tokenize(text: str, *, plural: bool = True) -> list[Token]:
    """Split `text` into normalised tokens with their source spans."""
    memo = _CHUNK_MEMO if plural else _CHUNK_MEMO_RAW
    new = tuple.__new__  # a Token without the Python-level frame of Token(...)
    tokens: list[Token] = []
    append = tokens.append
    percent = False
    for m in _CHUNK.finditer(text):
        chunk = m.group()
        word = memo.get(chunk)
        if word is None:
            word = _normal_chunk(chunk, plural)
        if word:
            append(new(Token, (word, *m.span())))
            if word in _PERCENT_HINTS:
                percent = True
    return _merge_percents(tokens) if percent else tokens


# A token that may take part in a percentage ("5 percent", "5pc", "5 %", "five per cent").
_PERCENT_HINTS = frozenset({"%", "percentage", "percent", "pct", "pc", "cent"})


def _merge_percents(tokens: list[Token]) -> list[Token]:
    """`tokens` with a number and the percent word after it as one token; the same rule
    as _PERCENT_MERGE."""
    out: list[Token] = []
    for token in tokens:
        word = token.text
        if word in _PERCENT_WORDS and out and _is_number(out[-1].text):
            _merge_percent(out, out[-1], token.end)
        elif (
            word == "cent" and len(out) >= 2 and out[-1].text == "per" and _is_number(out[-2].text)
        ):
            out.pop()
            _merge_percent(out, out[-1], token.end)
        else:
            out.append(token)
    return out


def _merge_percent(tokens: list[Token], number: Token, end: int) -> None:
    """Replace the last token (a number or number word) by its percentage token."""
    tokens[-1] = Token(_NUMBER_WORDS.get(number.text, number.text) + "%", number.start, end)


def _is_number(token: str) -> bool:
    """True for a canonical number token or a number word ("5", "3.5", "five")."""
    if token in _NUMBER_WORDS:
        return True
    head, _, tail = token.partition(".")
    return head.isdigit() and (not tail or tail.isdigit())
