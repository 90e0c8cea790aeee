"""One normal form per entry: the matcher's scan, its explanation and the story fingerprint
read the same `EntryText`, and each field is tokenised at most once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.matching import Matcher
from bot.matching import text as text_module
from bot.matching.normalize import tokenize
from bot.matching.text import EntryText
from bot.stories.signature import fingerprint, fingerprint_of
from bot.stories.words import clean_title, content_words

DATA = Path(__file__).parent / "data"


def _items() -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for path in sorted((DATA / "stories").glob("pairs_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                pair = json.loads(line)
                items += [(s["title"], s.get("summary") or "") for s in (pair["a"], pair["b"])]
    return items


def test_a_matched_entry_is_tokenised_once_for_explanation_and_story(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def counting(text: str, *, plural: bool = True) -> list[object]:
        calls.append(text)
        return tokenize(text, plural=plural)  # type: ignore[return-value]

    monkeypatch.setattr(text_module, "tokenize", counting)
    matcher = Matcher.compile([("nato", "nato AND (spend* OR defence)")])
    title = "Breaking: NATO allies agree to raise defence spending to 5% - Reuters"
    summary = "Allies meeting in The Hague agreed on Wednesday to spend 5% of GDP by 2035."
    text = EntryText(title, summary)
    [match] = matcher.match(text)
    assert {h.text for h in match.hits} >= {"NATO", "defence", "spending"}
    fp = fingerprint_of(text, "https://example.com/a")
    assert calls == [title, summary]  # once each, shared by the explanation and the story
    assert fp == fingerprint(title, summary, "https://example.com/a")

    calls.clear()
    assert matcher.match(EntryText("Weather for the weekend", "Sunny")) == []
    assert calls == []  # an item that matches nothing is never tokenised


def test_shared_fingerprints_equal_their_own_on_the_labelled_pairs() -> None:
    """Every labelled item: the fingerprint from the matcher's tokens is the one from text."""
    matcher = Matcher.compile([("any", "/./")])  # holds for every item: tokens are made
    items = _items()
    assert len(items) > 1000
    for title, summary in items:
        text = EntryText(title, summary)
        matcher.match(text)
        shared = fingerprint_of(text, None)
        own = fingerprint(title, summary, None)
        assert shared.to_text() == own.to_text(), title
        assert dict(shared.terms) == dict(own.terms), title


def test_match_refuses_a_second_summary() -> None:
    with pytest.raises(TypeError, match="EntryText's own"):
        Matcher.compile([("s", "nato")]).match(EntryText("NATO"), "summary")


def test_normal_form_from_tokens_is_the_scan_form() -> None:
    """Tokens made first (a caller asked for them) give the same normal form as the scan."""
    for title, summary in _items()[:300]:
        fresh, tokenised = EntryText(title, summary), EntryText(title, summary)
        tokenised.tokens(0), tokenised.tokens(1)
        assert fresh.normal(0) == tokenised.normal(0)
        assert fresh.normal(1) == tokenised.normal(1)


words = st.lists(
    st.sampled_from(["NATO", "allies", "agree", "5%", "Hague", "5", "per", "cent", "U.S.", "it's"]),
    min_size=1,
    max_size=8,
).map(" ".join)
labels = st.sampled_from(["", "Breaking: ", "UPDATE - ", "  Exclusive | ", "Analysis:"])
suffixes = st.sampled_from(["", " - Reuters", " | The Hindu", " — AP News ", " - a b c d e f"])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(labels, words, suffixes)
@example("UPDATE - ", "Hague allies agree", "")  # after a cut label, "Hague" begins the title
@example("Breaking: ", "NATO allies agree 5", " - Reuters")
def test_the_cleaned_titles_tokens_are_a_slice_of_the_titles(
    label: str, body: str, suffix: str
) -> None:
    """Cutting a label and a publisher off the title's tokens gives the cleaned title's own."""
    title = label + body + suffix
    cleaned = clean_title(title)
    assert clean_title(cleaned) == cleaned  # so the second fingerprint has nothing to cut
    cut = fingerprint_of(EntryText(title), None)
    own = fingerprint_of(EntryText(cleaned), None)
    assert cut.to_text() == own.to_text()  # words, numbers and named entities alike
    assert dict(cut.terms) == dict(own.terms)
    own_words, _ = content_words(cleaned, tokenize(cleaned))
    assert sorted(cut.terms.values()) == sorted(set(own_words))
