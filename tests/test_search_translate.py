"""Query translation per news API: never narrower than our query, within each API's limits.

For every shipped signal and every API, each labelled positive that our matcher finds must
also be found by the translated query, read the way the API reads it (`reference.READERS`:
case and accents folded, words split at punctuation, plurals folded only where the API stems).
"""

from __future__ import annotations

import json
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
from bot.sources.search import gdelt, google_news, guardian, newsapi
from bot.sources.search.config import SearchConfig
from bot.sources.search.forms import inflections, prefix_forms
from bot.sources.search.reference import READERS, ApiReader
from bot.sources.search.translate import Phrase, clause_share

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = {"gdelt": gdelt, "google_news": google_news, "newsapi": newsapi, "guardian": guardian}

# Signals whose query an API cannot be asked for (their `search:` can): GDELT takes no word
# under three letters ("US", "Xi") and no number, which leaves us-china-trade-truce nothing;
# asia-pacts' smallest required group is longer than NewsAPI's 500 characters.
UNSEARCHABLE = {
    "gdelt": {"us-china-trade-truce"},
    "google_news": set(),
    "newsapi": set(),
    "guardian": set(),
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


def _model(adapter: ModuleType) -> ApiReader:
    """How the API reads a query (bot/sources/search/reference.py)."""
    return READERS[adapter.ADAPTER.api]


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


def test_every_shipped_query_is_searchable_somewhere() -> None:
    """With prefixes spelled out, every shipped signal's own query can be asked of some API."""
    searchable = {s for s in SIGNALS if any(s not in UNSEARCHABLE[api] for api in ADAPTERS)}
    assert len(searchable) == len(SIGNALS) == 13


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


def test_a_prefix_goes_out_as_the_words_it_stands_for() -> None:
    """semiconductor* is the words that occur (wordfreq), most frequent first: kept, not dropped."""
    assert prefix_forms("semiconductor") == ("semiconductor", "semiconductors")
    t = newsapi.translate("semiconductor* NEAR/12 (pact OR accord)")
    assert t.text == "(semiconductor OR semiconductors) AND (pact OR pacts OR accord OR accords)"
    # A stemming API folds plurals itself: one spelling of each word goes.
    assert guardian.translate("Korea* AND Seoul").text == "(korea OR korean OR koreatown) AND seoul"


def test_a_prefix_of_too_many_words_drops_its_whole_group() -> None:
    """sign* starts over 12 words (sign, signal, significant, …): 'anything', so its OR-group
    drops out of the AND and the other group is searched."""
    assert prefix_forms("sign") is None
    t = google_news.translate('(sign* OR inked) AND "cost sharing"')
    assert t.text == '"cost sharing"'
    assert t.dropped == ["prefix sign* (more than 12 words start so; no wildcards in Google News)"]


def test_numbers_are_ours_to_fold() -> None:
    """A percent term is dropped: the API would miss "five per cent" for "5%"."""
    t = newsapi.translate('NATO AND "5%"')
    assert t.text == "nato" and t.dropped == ['number "5%" (its spellings are ours to fold)']


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


# A small vocabulary, so random texts and random queries share words often. Its words are
# English as it is written (each is in wordfreq's list): plurals inside phrases ("weapons
# shipment") and closed-up compounds ("ceasefires") are there because our matcher folds and
# joins them; spellings nobody writes ("peaces", "peacetalks") are not, because a search
# need not find a text that does not exist.
_WORDS = [
    *("truce", "truces", "kyiv", "moscow", "pact", "pacts", "gaza", "troop", "troops"),
    *("weapon", "weapons", "shipment", "shipments", "peace", "talk", "talks"),
    *("cease", "ceases", "fire", "fires", "ceasefire", "ceasefires", "peacekeepers"),
]
_TERMS = [
    *("truce", "kyiv", "moscow", "pact", "gaza", "troops", '"gaza troops"', '"kyiv truce"'),
    *('"weapon shipment"', '"weapons shipments"', '"peace talks"', "talk", "peace"),
    *('"cease fire"', "peacekeep*", "troop*"),
]


def test_the_vocabulary_is_english_as_written() -> None:
    """The property below draws texts from words that occur (a misspelling would prove nothing)."""
    from bot.sources.search.forms import zipf

    assert [w for w in _WORDS if zipf(w) == 0] == []


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
        '(near11:"gaza troops" OR near11:"gaza troop")'
    )
    assert gdelt.translate('Gaza NEAR/10 "foreign troops"').text == (
        'gaza ("foreign troops" OR "foreign troop")'
    )


def test_gdelt_drops_keywords_it_rejects_as_too_short() -> None:
    """GDELT refuses keywords under three letters: "US" can only be 'anything'."""
    t = gdelt.translate("Greenland AND (US OR Trump)")
    assert t.text == "greenland"
    assert "US (too short for GDELT)" in t.dropped


def test_only_plurals_that_occur_are_sent() -> None:
    """A noun's real plural, a verb's -s form; never one that is not a word (issue 13: no
    "japaneses", "securitys", "gazas")."""
    assert inflections("pact") == ("pact", "pacts")
    assert inflections("ally") == ("ally", "allies")  # not "allys"
    assert inflections("security") == ("security", "securities")  # not "securitys"
    assert inflections("halt") == ("halt", "halts")  # "Russia halts strikes"
    assert inflections("japanese") == ("japanese",)
    assert inflections("gaza") == ("gaza",)
    assert inflections("peace") == ("peace",)  # uncountable
    assert inflections("mou") == ("mou",)
    assert newsapi.translate('"peace talks"').text == '("peace talks" OR "peace talk")'
    sent = newsapi.translate("(Japanese OR Gaza OR security OR NATO) AND Ukraine").text
    for never in ("japaneses", "gazas", "securitys", "natos", "ukraines"):
        assert never not in sent


def test_exact_word_apis_get_the_plurals_of_every_word() -> None:
    """Our matcher folds every word of a phrase: "weapon shipment" finds "Weapons shipments"."""
    text = "Weapons shipments to Kyiv resume"
    assert Matcher.compile([("s", '"weapon shipment"')]).match_ids(text)
    for adapter in (gdelt, newsapi):
        t = adapter.translate('"weapon shipment"')
        assert t.text == (
            '("weapon shipment" OR "weapon shipments" OR "weapons shipment" OR "weapons shipments")'
        )
        assert _model(adapter).matches(t.text, text, "")
        assert not t.dropped


def test_closed_up_compounds_go_where_they_are_words() -> None:
    """Our matcher joins a phrase's words ("cease fire" → ceasefire): the join is sent where it
    is a word, in the spellings that occur; "armsale" is not one, so it is not sent."""
    t = newsapi.translate('"cease fire"')
    assert "ceasefire OR ceasefires" in t.text
    assert _model(newsapi).matches(t.text, "Ceasefires hold in the south", "")
    assert newsapi.translate('"arms sale"').text == (
        '("arms sale" OR "arms sales" OR "arm sale" OR "arm sales")'
    )
    # Stemming APIs fold "ceasefires" themselves: the join as written is enough.
    assert guardian.translate('"cease fire"').text == '("cease fire" OR ceasefire)'


def test_too_many_spellings_keep_the_last_word_s_and_name_the_rest() -> None:
    """Over max_spellings, only the last word's plurals go, and the others are listed."""
    t = newsapi.translate('"military security force guarantee"')
    assert t.text == (
        '("military security force guarantee" OR "military security force guarantees")'
    )
    assert t.dropped[0].startswith(
        '"military security force guarantee": not sent "military security forces guarantee",'
    )
    assert t.dropped[0].endswith("(over 8 spellings; only the last word's plurals go)")


def test_a_query_too_long_with_every_plural_keeps_the_last_word_s() -> None:
    """NewsAPI's asia-pacts search fits 500 characters only with the last word's plurals and
    without its least selective group (the security words): the agreement words that make
    the signal specific stay."""
    t = newsapi.translate(SEARCHES["asia-pacts"])
    assert len(t.text) <= 500
    assert '"reciprocal access" OR "reciprocal accesses"' in t.text
    assert '"reciprocals access"' not in t.text
    assert any(
        d.startswith('"reciprocal access": not sent "reciprocals access"')
        and d.endswith("(to fit 500 characters; only the last word's plurals go)")
        for d in t.dropped
    )
    (group,) = [d for d in t.dropped if d.startswith("group ")]
    assert group.endswith("(the least selective, to fit 500 characters)")
    assert "military" in group and "pact OR pacts" in t.text and "military" not in t.text


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
    assert gdelt.translate("oxes OR taxes").text == "(oxes OR taxes OR tax)"
    assert newsapi.translate("axes").text == "(axes OR ax)"  # NewsAPI takes short words


def test_operator_words_are_quoted() -> None:
    """A query word that spells an operator ("or", "not") is sent quoted, not as an operator."""
    assert guardian.translate('"or" AND Gaza').text == '"or" AND gaza'


def test_length_limit_drops_the_least_selective_group_not_the_longest() -> None:
    """Over NewsAPI's 500 characters, the group most items hold goes first (wordfreq's
    estimate): ukraine-truce keeps its truce words, which make it specific, and leaves out
    the country names, though the truce group is the longer one."""
    t = newsapi.translate(SEARCHES["ukraine-truce"])
    assert len(t.text) <= 500
    assert "ceasefire" in t.text and "armistice" in t.text
    assert "kremlin" not in t.text
    dropped = [d for d in t.dropped if d.startswith("group ")]
    assert len(dropped) == 1 and "kremlin" in dropped[0]
    assert dropped[0].endswith("(the least selective, to fit 500 characters)")
    countries = (Phrase(("russia",)), Phrase(("ukraine",)), Phrase(("kremlin",)))
    truce = (Phrase(("ceasefire",)), Phrase(("truce",)), Phrase(("peace", "plan")))
    assert clause_share(countries) > clause_share(truce)


def test_of_two_groups_the_common_words_go() -> None:
    """A rare long group stays and a common short one goes, when only one fits."""
    rare = " OR ".join(f'"{w} accord"' for w in ("semiconductor", "foundry", "chipmaker"))
    common = " OR ".join(("said", "year", "people", "new", "time", "also"))
    filler = " OR ".join(f"{w}" for w in ("xylophone", "zeppelin") * 1)
    t = newsapi.translate(f"({rare} OR {filler}) AND ({common})", reserve=500 - 250)
    assert "semiconductor accord" in t.text and "people" not in t.text


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
