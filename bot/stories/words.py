"""What a news item's text yields for its story fingerprint: its cleaned title, its content
words (normalised, places folded, scales joined to their number) and which of them are named
entities. Pure: no I/O.

    clean_title(title)                     without " - Publisher" or a "Breaking:" label
    clean_span(title)                      where in `title` that cleaned title lies
    content_words(text, tokens, start, n)  (words, entities) of `text` from its tokens
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.matching.normalize import Token, tokenize

__all__ = [
    "COUNTRIES",
    "LEDE_PREVIEW",
    "LIVE",
    "MIN_TITLE_WORDS",
    "PREVIEW",
    "clean_span",
    "clean_title",
    "content_words",
    "is_number",
    "title_case",
]

# Titles with fewer words than this ("Breaking news", "Kyiv attacked") name no single story.
MIN_TITLE_WORDS = 4

# Function words and news filler, after normalisation (plurals folded). Agency names are here
# because datelines ("BEIJING (AP) —") are shared by unrelated stories from one wire.
_STOP = frozenset(
    """a an the and or but of to in on at for from by with as is are was were be been being has
    have had it its this that these those into over after before about than then so not no nor
    via per up out off he she they we you his her their our your them who whom which what when
    where why how will would can could should may might must shall do does did say said saying
    report reported according amid also new news live update breaking exclusive analysis watch
    video photo opinion more most under reuter ap afp tass xinhua dpa ian pti yonhap bloomberg
    anadolu kyodo jiji s t i me my mr ms tell told just still now even while since during
    between against without within across like get got make made take""".split()  # noqa: SIM905
)
# Demonyms and capitals that stand for their country, folded so "Spanish PM" meets "Spain".
_PLACES = {
    "american": "us", "america": "us", "washington": "us", "spanish": "spain",
    "chinese": "china", "beijing": "china", "japanese": "japan", "tokyo": "japan",
    "korean": "korea", "seoul": "korea", "british": "uk", "britain": "uk", "russian": "russia",
    "moscow": "russia", "ukrainian": "ukraine", "indonesian": "indonesia",
    "jakarta": "indonesia", "filipino": "philippine", "manila": "philippine",
    "israeli": "israel", "palestinian": "palestine", "iranian": "iran", "indian": "india",
    "canadian": "canada", "ottawa": "canada", "german": "germany", "berlin": "germany",
    "french": "france", "paris": "france", "danish": "denmark", "copenhagen": "denmark",
    "european": "eu", "europe": "eu", "taiwanese": "taiwan", "taipei": "taiwan",
    "vietnamese": "vietnam",
    "thai": "thailand", "cambodian": "cambodia", "panamanian": "panama", "mexican": "mexico",
    "turkish": "turkey", "australian": "australia", "brazilian": "brazil", "dutch": "netherlands",
    "italian": "italy", "polish": "poland", "greenlandic": "greenland", "swiss": "switzerland",
    "pakistani": "pakistan", "egyptian": "egypt", "emirati": "uae", "qatari": "qatar",
    "syrian": "syria", "lebanese": "lebanon", "venezuelan": "venezuela", "norwegian": "norway",
    "swedish": "sweden", "finnish": "finland", "belgian": "belgium", "malaysian": "malaysia",
    "azerbaijani": "azerbaijan", "baku": "azerbaijan", "kiwi": "zealand", "nz": "zealand",
    "ph": "philippine", "rok": "korea", "prc": "china", "nigerian": "nigeria",
    "saudi": "saudi", "hungarian": "hungary", "greek": "greece", "irish": "ireland",
    "portuguese": "portugal", "austrian": "austria", "czech": "czechia", "romanian": "romania",
    "estonian": "estonia", "latvian": "latvia", "lithuanian": "lithuania", "iraqi": "iraq",
    "afghan": "afghanistan", "bangladeshi": "bangladesh", "chilean": "chile",
    "colombian": "colombia", "peruvian": "peru", "cuban": "cuba", "jordanian": "jordan",
    "kenyan": "kenya", "ethiopian": "ethiopia", "mongolian": "mongolia", "burmese": "myanmar",
    "laotian": "laos",
    "papua": "png", "armenian": "armenia", "georgian": "georgia", "serbian": "serbia",
    "croatian": "croatia", "slovak": "slovakia", "bulgarian": "bulgaria", "ukrainians": "ukraine",
}  # fmt: skip
# Two words that name one place, folded to one term ("United States" is "us").
_PLACE_PAIRS = {
    ("united", "state"): "us", ("united", "kingdom"): "uk", ("eu", "union"): "eu",
    ("south", "korea"): "korea", ("north", "korea"): "northkorea", ("hong", "kong"): "hongkong",
    ("saudi", "arabia"): "saudi", ("sri", "lanka"): "srilanka", ("south", "africa"): "southafrica",
    ("south", "african"): "southafrica", ("sri", "lankan"): "srilanka", ("united", "arab"): "uae",
    ("czech", "republic"): "czechia",
}  # fmt: skip
# Countries and blocs, as `content_words` spells them: a title naming one the other item never
# mentions, while that item's title names another, reports another party's news.
COUNTRIES = frozenset(
    """us uk eu china japan korea northkorea taiwan hongkong india pakistan bangladesh srilanka
    nepal russia ukraine belarus poland germany france italy spain portugal netherlands belgium
    luxembourg switzerland austria denmark sweden norway finland iceland ireland greece turkey
    cyprus hungary czechia slovakia romania bulgaria serbia croatia slovenia bosnia albania
    estonia latvia lithuania moldova georgia armenia azerbaijan kazakhstan uzbekistan mongolia
    iran iraq syria lebanon israel palestine jordan egypt saudi uae qatar kuwait bahrain oman
    yemen afghanistan canada mexico brazil argentina chile colombia peru venezuela cuba panama
    ecuador bolivia uruguay paraguay australia zealand png fiji indonesia malaysia singapore
    philippine vietnam thailand cambodia laos myanmar brunei nigeria southafrica kenya ethiopia
    egypt morocco algeria tunisia libya sudan ghana senegal greenland nato asean brics""".split()  # noqa: SIM905
)
# Scale words joined to the number before them: "$250bn" and "250 billion" are "250billion".
_SCALES = frozenset({"billion", "million", "trillion"})
# A title that previews an event rather than reporting it ("set to adopt", "Targets Expected at
# NATO Meeting", "leaders head to Malaysia for peace talks", "to sign this week").
PREVIEW = re.compile(
    r"\b(?:set|poised|due|slated|scheduled)\s+to\b|\bexpected\b|\bheads?\s+to\b"
    r"|\b(?:this|next)\s+(?:week|month)\b",
    re.IGNORECASE,
)
# A lede that puts the event in the future ("a key agreement expected at next week's summit").
LEDE_PREVIEW = re.compile(r"\bnext\s+(?:week|month)\b", re.IGNORECASE)
# A trailing " - Publisher" (Google News) or " | Site": one to five words, capitalised or numeric.
_PUBLISHER_SUFFIX = re.compile(r"^(?P<title>.*\S)\s+[-–—|]\s+(?P<pub>[A-Z0-9][^-–—|]{1,40})$")
# Headline prefixes that say how a story is presented, not which story it is.
_LABEL_PREFIX = re.compile(
    r"^\s*(?:breaking(?: news)?|exclusive|update[d]?|analysis|watch|video|explainer)\s*[:|-]\s*",
    re.IGNORECASE,
)
# Live blogs keep one title for a day of different stories: never merge on their titles.
LIVE = re.compile(r"\blive(?:\s+updates?|\s+blog|:)|\bas it happened\b|^\s*live\b", re.IGNORECASE)
# What ends a sentence (or opens a quote) between two words: the next word's capital means nothing.
_SENTENCE_BREAK = re.compile(r"[.!?:;\"“‘(\[—–]\s*$|^\s*[\"“‘]")


def is_number(word: str) -> bool:
    return any(map(str.isdigit, word))


def clean_title(title: str) -> str:
    """`title` without a trailing "- Publisher" or a leading "Breaking:"-style label."""
    start, end = clean_span(title)
    return title[start:end]


def clean_span(title: str) -> tuple[int, int]:
    """Where in `title` its `clean_title` lies: [start, end)."""
    start = len(title) - len(title.lstrip())
    stripped = title.strip()
    label = _LABEL_PREFIX.match(stripped)
    if label:
        start += label.end()
        stripped = stripped[label.end() :]
    end = start + len(stripped)
    m = _PUBLISHER_SUFFIX.match(stripped)
    if m and len(m["title"].split()) >= MIN_TITLE_WORDS and len(m["pub"].split()) <= 5:
        end = start + m.end("title")
    return start, end


def content_words(
    text: str, tokens: Iterable[Token] | None = None, start: int = 0, limit: int | None = None
) -> tuple[list[str], set[str]]:
    """The content words of `tokens` (`text`'s, from offset `start` on; all of `text`'s when
    not given: normalised, places folded, scales joined to their number) and which of them
    are named entities (capitalised inside a sentence, or acronyms)."""
    if tokens is None:
        tokens = tokenize(text)
    words: list[str] = []
    entities: set[str] = set()
    previous_end = start
    last = -2  # the token index of the last word kept
    for i, token in enumerate(tokens):
        word, raw = token.text, text[token.start : token.end]
        between = text[previous_end : token.start]
        previous_end = token.end
        if word in _SCALES and words and words[-1].isdigit():
            words[-1] += word
            continue
        word = _PLACES.get(word, word)
        # Most words are one space apart: no regex needed to see that no sentence ends there.
        starts = i == 0 or (between != " " and bool(_SENTENCE_BREAK.search(between)))
        named = raw[:1].isupper() and (not starts or (len(raw) > 1 and raw.isupper()))
        place = _PLACE_PAIRS.get((words[-1], word)) if words and last == i - 1 else None
        if place is not None:  # "United States": one term, named if either word was
            named = named or words[-1] in entities
            entities.discard(words[-1])
            words[-1], last = place, i
            if named:
                entities.add(place)
            continue
        if word in _STOP or (len(word) < 2 and not word.isdigit()):
            continue
        words.append(word)
        last = i
        if named:
            entities.add(word)
        if limit is not None and len(words) >= limit:
            break
    return words, entities


def title_case(title: str) -> bool:
    """Whether most of the title's words are capitalised (then a capital marks no name)."""
    words = [w for w in re.findall(r"[^\W\d_][\w'’]*", title) if w.casefold() not in _STOP]
    return bool(words) and sum(w[0].isupper() for w in words) > 0.6 * len(words)
