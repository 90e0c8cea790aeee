"""Query translation per news API: never narrower than our query, within each API's limits.

For every shipped signal and every API, each labelled positive that our matcher finds must
also be found by the translated query, read the way the API reads it (`ApiModel` below: case
and accents folded, words split at punctuation, plurals folded only where the API stems).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from bot.errors import QueryError, SourceError
from bot.matching.concepts import expand_concepts
from bot.matching.matcher import Matcher
from bot.matching.normalize import tokenize
from bot.sources.search import gdelt, google_news, guardian, newsapi
from bot.sources.search.config import SearchConfig
from bot.sources.search.translate import plural_spellings

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = {"gdelt": gdelt, "google_news": google_news, "newsapi": newsapi, "guardian": guardian}

# Signals whose every required group leads with a prefix* or a number: no API here has
# wildcards or folds number spellings, so the only broader search would be "everything",
# which none of them offers. They are refused with a clear message (RSS sources cover them).
UNSEARCHABLE = {
    "gdelt": {
        "ukraine-truce",
        "tariff-waivers",
        "korea-troop-costs",
        "japan-investment-pact",
        "us-china-trade-truce",
    },
    "google_news": {"ukraine-truce", "korea-troop-costs", "japan-investment-pact"},
    "newsapi": {"ukraine-truce", "asia-pacts", "korea-troop-costs", "japan-investment-pact"},
    "guardian": {"ukraine-truce", "korea-troop-costs", "japan-investment-pact"},
}


def _signals() -> dict[str, str]:
    """Each shipped signal's query, its @concepts written out (as the APIs are handed it)."""
    data = YAML(typ="safe").load((ROOT / "watchlist.yaml").read_text(encoding="utf-8"))
    concepts = data.get("concepts") or {}
    return {s["id"]: expand_concepts(s["query"], concepts) for s in data["signals"]}


def _searches() -> dict[str, str]:
    """What the APIs are searched with for each shipped signal: its `search:`, else `query`."""
    data = YAML(typ="safe").load((ROOT / "watchlist.yaml").read_text(encoding="utf-8"))
    concepts = data.get("concepts") or {}
    return {
        s["id"]: expand_concepts(s.get("search") or s["query"], concepts) for s in data["signals"]
    }


def _labelled() -> list[dict[str, object]]:
    items = []
    for path in sorted((ROOT / "tests" / "data" / "labelled").glob("*.jsonl")):
        items += [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    return items


SIGNALS = _signals()
SEARCHES = _searches()
LABELLED = _labelled()


# --- a reader of the translated queries, as the API would evaluate them -----------------------


@dataclass(frozen=True)
class ApiModel:
    """How an API matches text: exact words, or with plurals folded (stemming APIs)."""

    stems: bool

    def words(self, text: str) -> list[str]:
        """Text as the API's index would hold it."""
        return [t.text for t in tokenize(text, plural=self.stems)]

    def matches(self, query: str, title: str, summary: str) -> bool:
        """Whether the translated `query` finds an item with this title and summary."""
        fields = [self.words(title), self.words(summary)]
        tokens = re.findall(r'near\d+:"[^"]*"|"[^"]*"|\(|\)|[^\s()"]+', query)
        value, rest = self._or(tokens, fields)
        assert not rest, f"unparsed {rest} in {query!r}"
        return value

    def _or(self, tokens: list[str], fields: list[list[str]]) -> tuple[bool, list[str]]:
        value, tokens = self._and(tokens, fields)
        while tokens and tokens[0] == "OR":
            right, tokens = self._and(tokens[1:], fields)
            value = value or right
        return value, tokens

    def _and(self, tokens: list[str], fields: list[list[str]]) -> tuple[bool, list[str]]:
        value, tokens = self._atom(tokens, fields)
        while tokens and tokens[0] not in ("OR", ")"):
            if tokens[0] == "AND":
                tokens = tokens[1:]
            right, tokens = self._atom(tokens, fields)
            value = value and right
        return value, tokens

    def _atom(self, tokens: list[str], fields: list[list[str]]) -> tuple[bool, list[str]]:
        head, rest = tokens[0], tokens[1:]
        assert head not in ("AND", "OR", "NOT", ")"), f"operator {head} where a term belongs"
        if head == "(":
            value, rest = self._or(rest, fields)
            assert rest and rest[0] == ")", "unbalanced parentheses"
            return value, rest[1:]
        near = re.fullmatch(r'near(\d+):"([^"]*)"', head)
        if near:
            a, b = self.words(near.group(2))
            return any(self._near(f, a, b, int(near.group(1))) for f in fields), rest
        phrase = self.words(head.strip('"'))
        return any(_contains(f, phrase) for f in fields), rest

    @staticmethod
    def _near(field: list[str], a: str, b: str, distance: int) -> bool:
        at = [i for i, w in enumerate(field) if w == a]
        bt = [j for j, w in enumerate(field) if w == b]
        return any(abs(i - j) <= distance for i in at for j in bt)


def _contains(field: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(field[i : i + n] == phrase for i in range(len(field) - n + 1))


def _model(adapter: ModuleType) -> ApiModel:
    return ApiModel(stems=adapter.DIALECT.stems_plurals)


# --- every shipped signal, every API ----------------------------------------------------------


@pytest.mark.parametrize("api", sorted(ADAPTERS))
@pytest.mark.parametrize("signal_id", sorted(SIGNALS))
def test_shipped_signal_translation_is_never_narrower(api: str, signal_id: str) -> None:
    """Each labelled positive our matcher finds, the translated query finds too (or a clear refusal)."""
    adapter = ADAPTERS[api]
    query = SIGNALS[signal_id]
    if signal_id in UNSEARCHABLE[api]:
        with pytest.raises(SourceError, match=f"^{adapter.API} cannot search for this query: "):
            adapter.translate(query)
        return
    translation = adapter.translate(query)
    assert len(translation.text) <= adapter.DIALECT.max_length
    matcher = Matcher.compile([(signal_id, query)])
    model = _model(adapter)
    found = [
        item
        for item in LABELLED
        if signal_id in item["labels"]
        and matcher.match_ids(str(item["title"]), str(item["summary"] or ""))
    ]
    assert found, "the labelled set has positives our matcher finds"
    missed = [
        item["id"]
        for item in found
        if not model.matches(translation.text, str(item["title"]), str(item["summary"] or ""))
    ]
    assert missed == [], f"{api} query {translation.text!r} misses {missed}"


@pytest.mark.parametrize("api", sorted(ADAPTERS))
@pytest.mark.parametrize("signal_id", sorted(SIGNALS))
def test_shipped_search_queries_reach_every_labelled_hit(api: str, signal_id: str) -> None:
    """Every shipped signal is searchable on every API with its `search:` (or its query), and
    that search finds each labelled positive that the signal's own query alerts on."""
    adapter = ADAPTERS[api]
    translation = adapter.translate(SEARCHES[signal_id])
    assert len(translation.text) <= adapter.DIALECT.max_length
    matcher = Matcher.compile([(signal_id, SIGNALS[signal_id])])
    model = _model(adapter)
    found = [
        item
        for item in LABELLED
        if signal_id in item["labels"]
        and matcher.match_ids(str(item["title"]), str(item["summary"] or ""))
    ]
    assert found, "the labelled set has positives our matcher finds"
    missed = [
        item["id"]
        for item in found
        if not model.matches(translation.text, str(item["title"]), str(item["summary"] or ""))
    ]
    assert missed == [], f"{api} search {translation.text!r} misses {missed}"


def test_most_shipped_signals_are_searchable_somewhere() -> None:
    """Ten of the thirteen shipped signals can be searched on at least one API."""
    searchable = {s for s in SIGNALS if any(s not in UNSEARCHABLE[api] for api in ADAPTERS)}
    assert len(searchable) == 10


# --- what each dialect can and cannot say ------------------------------------------------------


def test_not_regex_and_scopes_are_dropped_towards_broader() -> None:
    """NOT parts and regexes are dropped (noted); a title: scope searches everywhere."""
    t = guardian.translate('title:Gaza AND /isf|ikf/ NOT "Board of Peace"')
    assert t.text == "gaza"
    assert t.broadened
    assert t.dropped == [
        "title: scope of Gaza (searched everywhere)",
        "regex /isf|ikf/ (no regexes in Guardian)",
        "NOT part (searched without it; our matcher applies it)",
    ]


def test_a_prefix_in_an_or_drops_the_whole_group() -> None:
    """(Korea* OR Seoul) can only be 'anything', so the AND keeps its other group."""
    t = google_news.translate('(Korea* OR Seoul) AND "cost sharing"')
    assert t.text == '("cost sharing" OR costsharing)'
    assert t.dropped == ["prefix Korea* (no wildcards in Google News)"]


def test_numbers_are_ours_to_fold() -> None:
    """A percent term is dropped: the API would miss "five per cent" for "5%"."""
    t = newsapi.translate('NATO AND "5%"')
    assert t.text == "(nato OR natos)" and t.dropped == [
        'number "5%" (its spellings are ours to fold)'
    ]


def test_and_inside_or_is_distributed_exactly() -> None:
    """(a AND (b OR c)) OR d is (a OR d) AND (b OR c OR d): the same query, nothing dropped."""
    t = guardian.translate("(truce AND (Kyiv OR Moscow)) OR armistice")
    assert t.text == "(truce OR armistice) AND (kyiv OR moscow OR armistice)"
    assert t.dropped == [] and not t.broadened


def test_distributed_groups_that_hold_another_are_absorbed() -> None:
    """(truce AND Kyiv) OR truce is just truce: (truce OR Kyiv) holds truce and goes."""
    assert guardian.translate("(truce AND Kyiv) OR truce").text == "truce"


def test_an_or_of_many_ands_keeps_each_and_s_smallest_group() -> None:
    """Five ANDs of two groups would distribute into 32 groups: each keeps its smallest instead."""
    names = ["kyiv", "gaza", "panama", "seoul", "manila"]
    query = " OR ".join(f"({n} AND ({n}truce OR {n}pact))" for n in names)
    t = guardian.translate(query)
    assert t.text == "(kyiv OR gaza OR panama OR seoul OR manila)"
    assert t.dropped[0] == "AND inside OR: kept kyiv, dropped (kyivtruce OR kyivpact)"
    assert len(t.dropped) == 5


# A small vocabulary, so random texts and random queries share words often.
# Plurals inside phrases ("weapons shipment", "peaces talks") and closed-up compounds
# ("peacetalks") are there because our matcher folds and joins them.
_WORDS = [
    *("truce", "truces", "kyiv", "moscow", "pact", "pacts", "gaza", "troop", "troops"),
    *("weapon", "weapons", "shipment", "shipments", "weaponshipments"),
    *("peace", "peaces", "talk", "talks", "peacetalk", "peacetalks"),
]
_TERMS = [
    *("truce", "kyiv", "moscow", "pact", "gaza", "troops", '"gaza troops"', '"kyiv truce"'),
    *('"weapon shipment"', '"weapons shipments"', '"peace talks"', "talk", "peace"),
]


def _queries() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(_TERMS)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from([" AND ", " OR ", " NEAR/2 "]), inner).map(
                lambda t: f"({t[0]}{t[1]}{t[2]})"
            ),
            st.tuples(inner, leaf).map(lambda t: f"({t[0]} NOT {t[1]})"),
        ),
        max_leaves=8,
    )


@pytest.mark.parametrize("api", sorted(ADAPTERS))
@settings(max_examples=300, deadline=None)
@given(query=_queries(), title=st.lists(st.sampled_from(_WORDS), max_size=8))
def test_any_translation_finds_everything_our_matcher_finds(
    api: str, query: str, title: list[str]
) -> None:
    """Never narrower, for any query: every text our matcher alerts on, the API query finds."""
    adapter = ADAPTERS[api]
    text = " ".join(title)
    try:
        translation = adapter.translate(query)
    except QueryError:
        return  # not a query of ours (NEAR around an AND): the watchlist refuses it too
    except SourceError:
        return  # refused outright: nothing is sent, so nothing can be hidden
    if Matcher.compile([("s", query)]).match_ids(text, ""):
        assert _model(adapter).matches(translation.text, text, ""), translation.text


def test_near_becomes_and_except_gdelt_near_between_words() -> None:
    """NEAR is AND for most APIs; GDELT gets near<n+1> over every pair of spellings."""
    assert guardian.translate("Gaza NEAR/10 troops").text == "gaza AND troops"
    assert gdelt.translate("Gaza NEAR/10 troops").text == (
        '(near11:"gaza troops" OR near11:"gaza troop" OR near11:"gazas troops" OR near11:"gazas troop")'
    )
    assert gdelt.translate('Gaza NEAR/10 "foreign troops"').text == (
        '(gaza OR gazas) ("foreign troops" OR "foreign troop" OR "foreigns troops"'
        ' OR "foreigns troop" OR foreigntroops OR foreigntroop)'
    )


def test_gdelt_drops_keywords_it_rejects_as_too_short() -> None:
    """GDELT refuses keywords under three letters: "US" can only be 'anything'."""
    t = gdelt.translate("Greenland AND (US OR Trump)")
    assert t.text == "(greenland OR greenlands)"
    assert "US (too short for GDELT)" in t.dropped


def test_plural_spellings_cover_our_folding() -> None:
    """Every spelling our matcher folds to a word is sent to exact-word APIs."""
    assert plural_spellings("pact") == ["pact", "pacts"]
    assert plural_spellings("ally") == ["ally", "allys", "allies"]
    assert plural_spellings("match") == ["match", "matchs", "matches"]  # "matchs" folds too
    assert newsapi.translate('"peace talks"').text == (
        '("peace talks" OR "peace talk" OR "peaces talks" OR "peaces talk" OR peacetalks'
        " OR peacetalk)"
    )


def test_exact_word_apis_get_the_plurals_of_every_word() -> None:
    """Our matcher folds every word of a phrase: "weapon shipment" finds "Weapons shipments"."""
    text = "Weapons shipments to Kyiv resume"
    assert Matcher.compile([("s", '"weapon shipment"')]).match_ids(text)
    for adapter in (gdelt, newsapi):
        t = adapter.translate('"weapon shipment"')
        assert t.text == (
            '("weapon shipment" OR "weapon shipments" OR "weapons shipment"'
            ' OR "weapons shipments" OR weaponshipment OR weaponshipments)'
        )
        assert _model(adapter).matches(t.text, text, "")
        assert not t.dropped


def test_closed_up_compounds_go_in_every_spelling_our_matcher_joins() -> None:
    """Our matcher joins its folded words ("arms sale" → armsale), so armsales is sent too."""
    t = newsapi.translate('"arms sale"')
    assert t.text == (
        '("arms sale" OR "arms sales" OR "arm sale" OR "arm sales" OR armssale OR armsale'
        " OR armsales)"
    )
    assert _model(newsapi).matches(t.text, "Armsales to Taiwan approved", "")
    # Stemming APIs fold "armsales" themselves: the join as written and as ours are enough.
    assert guardian.translate('"arms sale"').text == '("arms sale" OR armssale OR armsale)'


def test_too_many_spellings_keep_the_last_word_s_and_name_the_rest() -> None:
    """Over max_spellings, only the last word's plurals go, and the others are listed."""
    t = newsapi.translate('"military ally"')
    assert t.text == '("military ally" OR "military allys" OR "military allies" OR militaryally)'
    assert t.dropped == [
        '"military ally": not sent "militarys ally", "militarys allys", "militarys allies",'
        ' "militaries ally", "militaries allys", "militaries allies", militaryallys,'
        " militaryallies (over 8 spellings; only the last word's plurals go)"
    ]


def test_a_query_too_long_with_every_plural_keeps_the_last_word_s() -> None:
    """NewsAPI's asia-pacts search fits 500 characters only with the last word's plurals."""
    t = newsapi.translate(SEARCHES["asia-pacts"])
    assert len(t.text) <= 500
    assert '"visiting forces" OR "visiting force"' in t.text
    assert '"visitings forces"' not in t.text
    assert any(
        d.startswith('"visiting forces": not sent "visitings forces"')
        and d.endswith("(to fit 500 characters; only the last word's plurals go)")
        for d in t.dropped
    )


def test_a_closed_up_query_word_is_not_sent_split() -> None:
    """Our matcher splits "ceasefire" at every cut (it cannot know where), so we send it whole.

    Written as the phrase "cease fire", both spellings go out."""
    assert Matcher.compile([("s", "ceasefire")]).match_ids("A cease-fire was agreed")
    assert gdelt.translate("ceasefire").text == "(ceasefire OR ceasefires)"
    assert gdelt.translate('"cease fire"').text == (
        '("cease fire" OR "cease fires" OR "ceases fire" OR "ceases fires" OR ceasefire'
        " OR ceasefires)"
    )


def test_gdelt_never_gets_a_plural_spelling_too_short() -> None:
    """GDELT refuses "ax" (a spelling of "axes"): it is left out, and the loss is noted."""
    t = gdelt.translate("axes")
    assert t.text == "axes"
    assert t.dropped == [
        "ax, a spelling of axes (too short for GDELT; texts saying only that are not searched)"
    ]
    assert gdelt.translate("oxes OR taxes").text == "(oxes OR taxes OR tax OR taxs)"
    assert newsapi.translate("axes").text == "(axes OR ax)"  # NewsAPI takes short words


def test_operator_words_are_quoted() -> None:
    """A query word that spells an operator ("or", "not") is sent quoted, not as an operator."""
    assert guardian.translate('"or" AND Gaza').text == '"or" AND gaza'


def test_length_limit_drops_the_longest_group_first() -> None:
    """NewsAPI's 500 characters: the longest required group goes, the rest is kept."""
    long_group = " OR ".join(f"word{chr(97 + i)}{chr(97 + j)}" for i in range(8) for j in range(8))
    t = newsapi.translate(f"Gaza AND ({long_group})")
    assert t.text == "(gaza OR gazas)"
    assert t.dropped[-1].endswith("(to fit 500 characters)")


def test_a_single_group_over_the_limit_is_refused() -> None:
    """When the shortest required group is itself too long there is nothing broader to send."""
    long_group = " OR ".join(f"word{chr(97 + i)}{chr(97 + j)}" for i in range(8) for j in range(8))
    with pytest.raises(SourceError, match="over the 500-character limit"):
        newsapi.translate(long_group)


def test_window_operators_fit_within_the_limit() -> None:
    """build_request reserves room for GDELT's filters and Google's when: inside the limit."""
    now = datetime(2025, 6, 25, 15, 0, tzinfo=UTC)
    for api in ("gdelt", "google_news"):
        cfg = SearchConfig("s", api, language="english", country="US")  # type: ignore[arg-type]
        for signal_id, query in SIGNALS.items():
            if signal_id in UNSEARCHABLE[api]:
                continue
            request = ADAPTERS[api].build_request(cfg, signal_id, query, None, now)
            sent = parse_qs(urlsplit(request.url).query)["query" if api == "gdelt" else "q"][0]
            assert len(sent) <= ADAPTERS[api].DIALECT.max_length
