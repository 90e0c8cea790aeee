"""Inflections without asterisks: a query word finds its verb and noun forms (lemminflect)."""

from __future__ import annotations

import pytest

import bot.matching.matcher as matcher_module
from bot.matching import Matcher
from bot.matching.inflect import MAX_TERM_FORMS, term_forms, word_forms


def matched(query: str, title: str) -> list[str]:
    """The words a one-signal matcher reports for `title` ([] when it does not match)."""
    matches = Matcher.compile([("s", query)]).match(title)
    return list(matches[0].terms) if matches else []


@pytest.mark.parametrize(
    ("query", "title", "found"),
    [
        ("agree", "EU and Japan agree terms", "agree"),
        ("agree", "Leaders agreed a ceasefire on Sunday", "agreed"),
        ("agree", "Kyiv agrees to talks", "agrees"),
        ("agree", "Agreeing a text took all night", "Agreeing"),
        ("sign", "Philippines and Japan sign defence pact", "sign"),
        ("sign", "Seoul signed the chip accord", "signed"),
        ("sign", "The signing of the treaty was delayed", "signing"),
        ("deploy", "Indonesia deploying troops to Gaza", "deploying"),
        ("deploy", "Turkey deployed engineers", "deployed"),
        ("seal", "Panama and US sealed the ports deal", "sealed"),
        ("seal", "Japan seals $550 billion investment pact", "seals"),
        ("strike", "Trump and Xi struck a trade deal", "struck"),
    ],
)
def test_a_base_form_finds_its_inflections(query: str, title: str, found: str) -> None:
    """agree finds agreed/agrees/agreeing; sign, deploy, seal and strike likewise."""
    assert matched(query, title) == [found]


def test_accord_never_finds_according() -> None:
    """`according` (to) is a preposition in news, not a form of the verb `accord`."""
    assert matched("accord", "Tariffs will rise, according to officials") == []
    assert matched("accord", "The accord was accorded priority") == ["accord", "accorded"]
    assert matched("accord", "Two peace accords") == ["accords"]
    assert "according" not in word_forms("accord")
    assert "following" not in word_forms("follow") and "followed" in word_forms("follow")


def test_noun_plurals_fold_as_before() -> None:
    """Nouns keep the plural folding both ways; irregular plurals come from the table."""
    assert matched("pact", "Two pacts signed") == ["pacts"]
    assert matched("pacts", "A pact signed") == ["pact"]
    assert matched("ally", "Allies meet") == ["Allies"]
    assert matched("treaty", "Old treaties revived") == ["treaties"]
    assert matched("crisis", "Three crises at once") == ["crises"]
    assert word_forms("pact") == ()


def test_an_inflected_query_word_finds_only_itself() -> None:
    """`agreed` is taken as written: it does not find "agree" or "agreeing"."""
    assert word_forms("agreed") == () and word_forms("spending") == ()
    assert matched("agreed", "They agree") == []
    assert matched("agreed", "They agreed") == ["agreed"]


def test_prefix_terms_are_taken_as_written() -> None:
    """`deploy*` reaches the forms it wants; inflecting it would add nothing of use."""
    assert matched("deploy*", "Troops deployed") == ["deployed"]
    assert matched("deploy*", "Redeploying troops") == []


def test_adjective_degrees_and_auxiliaries_are_not_inflections() -> None:
    """`close` must not find "closer"; `will` must not find "would"."""
    assert matched("close", "Closer ties with Seoul") == []
    assert matched("close", "Canal deal closed") == ["closed"]
    assert word_forms("will") == () and word_forms("be") == ()


def test_words_the_table_does_not_know_find_only_themselves() -> None:
    """Names, acronyms and numbers get no forms."""
    assert word_forms("nato") == () and word_forms("us") == () and word_forms("5%") == ()
    assert word_forms("zelensky") == ()


def test_phrases_inflect_word_by_word_fewest_changes_first() -> None:
    """A phrase's words inflect like plural folding treats them: each word, combined."""
    forms = term_forms(("seal", "deal"))
    assert forms[:2] == [("sealed", "deal"), ("sealing", "deal")]
    assert ("sealed", "dealt") in forms
    assert matched('"seal deal"', "They sealed deals") == ["sealed deals"]
    assert matched('"peace talks"', "Peace talking resumed") == ["Peace talking"]
    assert matched('"end the war"', "A plan to ending the war") == ["ending the war"]


def test_term_forms_are_capped() -> None:
    """A phrase of many verbs gives at most MAX_TERM_FORMS spellings, and none past 8 words."""
    words = ("sign", "seal", "agree", "deploy", "strike")
    forms = term_forms(words)
    assert len(forms) == MAX_TERM_FORMS
    assert all(sum(a != b for a, b in zip(f, words, strict=True)) == 1 for f in forms[:10])
    assert term_forms(("sign",) * 9) == []
    assert term_forms(words, limit=3) == forms[:3]


def test_explanation_and_snippet_show_the_form_found() -> None:
    """The hit is the word as written in the item, in bold in the snippet."""
    [match] = Matcher.compile([("s", "(chip OR semiconductor) NEAR/5 sign")]).match(
        "US and Taiwan signed a semiconductor agreement"
    )
    assert match.terms == ["signed", "semiconductor"]
    assert "**signed**" in match.snippet


def test_inflections_work_with_near_and_fields() -> None:
    """A form is the same term: NEAR distances and title: scopes hold for it."""
    matcher = Matcher.compile([("s", "title:(deploy NEAR/3 troop)")])
    assert matcher.match_ids("Pakistan deploying troops", "") == ["s"]
    assert matcher.match_ids("Gaza", "Pakistan deploying troops") == []


def test_past_the_watchlist_s_budget_words_are_taken_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inflected patterns are capped per matcher, in compile order: later words stay exact."""
    monkeypatch.setattr(matcher_module, "_MAX_INFLECTED_PATTERNS", 2)
    matcher = Matcher.compile([("first", "agree"), ("second", "deploy")])
    assert matcher.match_ids("They agreed and agreeing") == ["first"]
    assert matcher.match_ids("Troops deployed") == []
    assert matcher.match_ids("Troops deploy") == ["second"]
