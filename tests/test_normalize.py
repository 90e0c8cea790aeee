"""Text normalisation: case, accents, hyphens, numbers and percents, plurals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.matching.normalize import fold_word, tokenize


def norm(text: str) -> list[str]:
    """The normal forms of a text's tokens."""
    return [t.text for t in tokenize(text)]


@pytest.mark.parametrize(
    "text",
    ["5%", "5 %", "5 percent", "5 per cent", "five per cent", "5.0%", "5pc", "5 pct",
     "Five Percent", "5-per-cent"],
)  # fmt: skip
def test_percent_forms_are_one_token(text: str) -> None:
    """Every way of writing five percent is the token 5%."""
    assert norm(text) == ["5%"]


def test_decimal_percents_and_thousands() -> None:
    """3.5 per cent is 3.5%; 1,000 is 1000; a European decimal comma reads as a point."""
    assert norm("3.5 per cent, 1.5pc") == ["3.5%", "1.5%"]
    assert norm("1,000 troops") == ["1000", "troop"]
    assert norm("3,5 %") == ["3.5%"]
    assert norm("3.50%") == ["3.5%"]


def test_per_cent_without_number_stays_words() -> None:
    """'per cent' alone is two words, not a percentage."""
    assert norm("per cent") == ["per", "cent"]


def test_case_accents_and_special_letters_fold() -> None:
    """Case and accents never matter; ø, ł, æ fold to their base letters."""
    assert norm("Panamá PANAMA panama") == ["panama"] * 3
    assert norm("Zürich Łódź Ørsted") == ["zurich", "lodz", "orsted"]


def test_hyphens_split_and_acronyms_close() -> None:
    """Hyphens split words; dotted acronyms close up; possessives drop."""
    assert norm("cease-fire") == ["cease", "fire"]
    assert norm("U.S.-China truce") == ["us", "china", "truce"]
    assert norm("NATO's allies'") == ["nato", "ally"]


@pytest.mark.parametrize(
    ("plural", "singular"),
    [("pacts", "pact"), ("allies", "ally"), ("matches", "match"), ("taxes", "tax"),
     ("forces", "force"), ("classes", "class"), ("troops", "troop"), ("tariffs", "tariff")],
)  # fmt: skip
def test_plurals_fold(plural: str, singular: str) -> None:
    """Common English plurals fold to the singular's form."""
    assert fold_word(plural) == fold_word(singular)


@pytest.mark.parametrize("word", ["news", "crisis", "status", "glass", "gas", "us"])
def test_non_plurals_keep_their_s(word: str) -> None:
    """Words that merely end in s are not cut."""
    assert fold_word(word) == word


def test_units_expand() -> None:
    """bn/mn/tn read as billion/million/trillion."""
    assert norm("$550bn") == ["550", "billion"]


def test_spans_point_at_source_text() -> None:
    """Each token's span covers the text it came from."""
    text = "NATO's five per cent goal"
    tokens = tokenize(text)
    assert [text[t.start : t.end] for t in tokens] == ["NATO's", "five per cent", "goal"]


@given(st.text())
def test_tokenize_never_raises_and_spans_are_ordered(text: str) -> None:
    """Arbitrary unicode tokenizes; spans are in bounds, ordered and non-overlapping."""
    tokens = tokenize(text)
    last = 0
    for t in tokens:
        assert 0 <= last <= t.start < t.end <= len(text)
        assert t.text and " " not in t.text
        last = t.end


@given(st.text())
def test_fast_normal_form_agrees_with_tokenize(text: str) -> None:
    """The scan's fast normal form is exactly the tokens `tokenize` gives, joined."""
    from bot.matching.normalize import normal_form

    assert normal_form(text) == " ".join(t.text for t in tokenize(text))


@given(st.lists(st.sampled_from(
    ["5", "five", "3.5", "%", "per", "cent", "percent", "pc", "NATO's", "U.S.", "1,000", "x"]
)).map(" ".join))  # fmt: skip
def test_fast_normal_form_agrees_on_number_soup(text: str) -> None:
    """Agreement holds on dense mixes of numbers and percent words too."""
    from bot.matching.normalize import normal_form

    assert normal_form(text) == " ".join(t.text for t in tokenize(text))
