"""Unit tests of the same-story detector: the link, title and near-duplicate rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.stories import (
    SCHEME,
    StoryFingerprint,
    StoryIndex,
    find_story,
    fingerprint,
    outlet_key,
    same_story,
    similarity,
)

# Real headlines and ledes from tests/data/labelled (the 11-12 Aug 2025 truce extension).
EXTEND_A = fingerprint(
    "Trump signs order extending China tariff truce by 90 days, White House says",
    "President Trump signed an executive order extending the tariff pause with China for 90 days "
    "to avoid escalating trade tensions and support ongoing negotiations on key trade issues.",
    "https://ground.news/article/trump-extends-china-tariff-truce",
)
EXTEND_B = fingerprint(
    "Trump signs order extending US, China tariff pause by another 90 days",
    "US President Donald Trump signed an executive order extending a tariff truce with China by "
    "another 90 days, a White House official said on Monday.",
    "https://www.chinadaily.com.cn/a/202508/12/WS689a5d2ca310724b60021019.html",
)
# The example of one topic, two stories (The Brussels Times; The Mint Magazine).
NATO_AGREES = fingerprint(
    "'Stronger and more lethal': NATO officially agrees 5% defence spending",
    "NATO Member States officially pledged to spend 5% of their GDP by 2035 at Wednesday's summit "
    'in The Hague, with Secretary-General Mark Rutte hailing the "significant commitment" made '
    "by Europe and Canada.",
    None,
)
SPAIN_REJECTS = fingerprint(
    "Spain rejects NATO's 5% defence spending hike as 'counterproductive'",
    "Spain has reportedly asked to opt out of NATO's proposed defence spending target of 5 percent "
    "of GDP, risking disruption to a key agreement expected at next week's alliance summit.",
    None,
)


def test_same_canonical_link_is_the_same_story() -> None:
    """Two items whose links differ only by trackers and case are one story."""
    a = fingerprint("One headline", "", "https://Example.com/a?utm_source=x")
    b = fingerprint("Quite another headline here", "", "https://example.com/a")
    assert same_story(a, b)
    assert similarity(a, b) == 1.0


def test_same_normalised_title_is_the_same_story() -> None:
    """Case, accents and punctuation do not split one headline into two stories."""
    a = fingerprint("Panamá ports deal: BlackRock buys CK Hutchison's terminals", "x", None)
    b = fingerprint("PANAMA PORTS DEAL — BLACKROCK BUYS CK HUTCHISON'S TERMINALS", "y", None)
    assert same_story(a, b)


def test_google_news_publisher_suffix_is_ignored() -> None:
    """A Google News title ending "- Publisher" matches the publisher's own title."""
    a = fingerprint("Trump extends trade truce with China another 90 days - Reuters", "", None)
    b = fingerprint("Trump extends trade truce with China another 90 days", "", None)
    assert a.title_norm == b.title_norm
    assert same_story(a, b)


def test_short_titles_do_not_merge_on_title_alone() -> None:
    """A three-word title names no single story: equal titles with different ledes stay apart."""
    a = fingerprint(
        "Kyiv under attack", "Russian drones struck Kyiv overnight, killing four.", None
    )
    b = fingerprint(
        "Kyiv under attack", "A missile barrage hit the capital's power grid on Friday.", None
    )
    assert not same_story(a, b)


def test_live_blog_titles_never_merge_on_title() -> None:
    """Live blogs keep one title across a day of stories; only their link identifies them."""
    a = fingerprint("Live updates: Trump tariffs", "China retaliates with 34% duties.", None)
    b = fingerprint("Live updates: Trump tariffs", "Markets slump for a second day.", None)
    assert a.title_norm is None
    assert not same_story(a, b)
    assert same_story(
        fingerprint("Live updates: Trump tariffs", "a", "https://x.test/live"),
        fingerprint("Live updates: Trump tariffs", "b", "https://x.test/live"),
    )


def test_rewrites_of_one_event_are_near_duplicates() -> None:
    """Two outlets' headlines on the truce extension merge on the signature."""
    assert EXTEND_A.link != EXTEND_B.link and EXTEND_A.title_norm != EXTEND_B.title_norm
    assert same_story(EXTEND_A, EXTEND_B)


def test_follow_up_on_the_same_topic_is_another_story() -> None:
    """ "NATO agrees 5%" and "Spain rejects NATO 5%" share a topic, not a story."""
    assert not same_story(NATO_AGREES, SPAIN_REJECTS)


def test_different_numbers_in_titles_are_different_stories() -> None:
    """A 5% target and a 2% target are different stories, however alike the words."""
    five = fingerprint("NATO allies agree to defence spending target of 5%", "", None)
    two = fingerprint("NATO allies agree to defence spending target of 2%", "", None)
    assert similarity(five, two) == 0.0
    assert not same_story(five, two)


def test_a_number_one_side_omits_does_not_block_a_merge() -> None:
    """Only a title number the other item contradicts (lacks entirely) vetoes the merge."""
    a = fingerprint("Trump extends China tariff truce by 90 days", "", None)
    b = fingerprint("Trump extends China tariff truce", "The truce is extended by 90 days.", None)
    assert same_story(a, b)


def test_round_trip_through_text() -> None:
    """from_text(to_text(f)) gives back an equal fingerprint."""
    text = EXTEND_A.to_text()
    assert text.startswith(f"{SCHEME}\t")
    assert "\n" not in text
    assert StoryFingerprint.from_text(text) == EXTEND_A


def test_old_scheme_rows_never_near_match() -> None:
    """A row written under another scheme keeps link and title rules but no signature."""
    _, link, title, *_ = EXTEND_A.to_text().split("\t")
    old = StoryFingerprint.from_text(f"sw0\tzzz\t{title}\tABCD")
    assert old.scheme == "sw0" and old.title_words == frozenset()
    assert same_story(old, EXTEND_A)  # the title rule still applies
    renamed = StoryFingerprint.from_text(f"sw0\t{link}x\tsome other title entirely\tABCD")
    assert similarity(renamed, EXTEND_A) == 0.0
    assert StoryFingerprint.from_text(renamed.to_text()) == renamed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected 'sw<N>"),
        ("xx1\ta\tb", "expected 'sw<N>"),
        (f"{SCHEME}\ta\tb\tABCD", "needs 9 fields"),
        (f"{SCHEME}\ta\tb\tABC\t\t\t\t\t", "title words has 3 characters"),
    ],
)
def test_malformed_text_says_what_is_wrong(text: str, message: str) -> None:
    """from_text rejects malformed rows with a message naming the problem."""
    with pytest.raises(ValueError, match=message):
        StoryFingerprint.from_text(text)


def test_find_story_prefers_link_then_title_then_best_score() -> None:
    """find_story returns a link match over a title match over the highest near-duplicate."""
    candidate = fingerprint(EXTEND_B_TITLE, EXTEND_B_LEDE, "https://x.test/b")
    weaker = fingerprint(
        "Trump extends US-China tariff pause by 90 days",
        "The White House said the truce was extended.",
        None,
    )
    known = [("nato", NATO_AGREES), ("weak", weaker), ("best", EXTEND_A)]
    assert find_story(candidate, known) == "best"
    same_title = fingerprint(EXTEND_B_TITLE, "unrelated lede", None)
    assert find_story(candidate, [*known, ("title", same_title)]) == "title"
    same_link = fingerprint("anything at all", "", "https://x.test/b")
    assert find_story(candidate, [("title", same_title), ("link", same_link), *known]) == "link"
    assert find_story(candidate, [("nato", NATO_AGREES), ("spain", SPAIN_REJECTS)]) is None
    assert find_story(candidate, []) is None


def test_find_story_returns_falsy_keys() -> None:
    """A key of 0 is a found story, not "none found"."""
    assert find_story(EXTEND_B, [(0, EXTEND_A)]) == 0


EXTEND_B_TITLE = "Trump signs order extending US, China tariff pause by another 90 days"
EXTEND_B_LEDE = (
    "US President Donald Trump signed an executive order extending a tariff truce with China by "
    "another 90 days, a White House official said on Monday."
)

_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)


@given(title=_texts, summary=_texts, link=st.none() | _texts)
def test_fingerprint_equals_itself_and_survives_text(
    title: str, summary: str, link: str | None
) -> None:
    """Any fingerprint is the same story as itself and round-trips through its text."""
    fp = fingerprint(title, summary, link)
    assert StoryFingerprint.from_text(fp.to_text()) == fp
    if fp.link or _words(fp.title_norm) >= 4 or len(fp.title_words) >= 3:
        assert same_story(fp, fp)


def _words(title: str | None) -> int:
    return 0 if title is None else title.count(" ") + 1


# --- outlets ----------------------------------------------------------------------------------

REUTERS = "https://www.reuters.com/world/europe/nato-allies-agree-truce-monitoring-2025-06-25/"
GOOGLE = "https://news.google.com/rss/articles/CBMiABC?oc=5"


def test_one_article_through_gdelt_newsapi_and_google_is_one_outlet() -> None:
    """GDELT's domain, NewsAPI's name and Google's <source> all key Reuters as "reuters"."""
    gdelt = outlet_key(REUTERS, "reuters.com", "gdelt")
    newsapi = outlet_key(REUTERS + "?utm_source=newsapi", "Reuters", "newsapi")
    google = outlet_key(GOOGLE, "Reuters", "google")
    assert gdelt == newsapi == google == "reuters"
    # Without links, the publishers alone agree too.
    assert outlet_key(None, "reuters.com", "gdelt") == outlet_key(None, "Reuters", "newsapi")


@pytest.mark.parametrize(
    ("link", "publisher", "key"),
    [
        ("https://WWW.Reuters.com/a", None, "reuters"),
        ("https://uk.reuters.com/a", None, "reuters"),
        ("https://m.bbc.co.uk/news/a", None, "bbc"),
        ("https://amp.theguardian.com/a", None, "guardian"),
        (None, "The Guardian", "guardian"),
        (None, "Al Jazeera", "aljazeera"),
        ("https://www.aljazeera.com/news/a", "Al Jazeera English", "aljazeera"),
        (None, "lemonde.fr", "lemonde"),
        (None, "Le Monde", "lemonde"),
        (None, "  Süddeutsche Zeitung ", "suddeutschezeitung"),
        ("https://newsletter.substack.com/p/a", None, "newslettersubstack"),
        ("http://127.0.0.1:8080/story/1", "Reuters", "127.0.0.1"),
    ],
)
def test_outlet_key_folds_spellings_of_one_outlet(
    link: str | None, publisher: str | None, key: str
) -> None:
    """Case, alias subdomains, public suffixes, a leading "the" and spacing are folded."""
    assert outlet_key(link, publisher, "src") == key


def test_the_link_decides_so_one_canonical_link_is_one_outlet() -> None:
    """Copies with one link are one outlet whatever publisher each source reports."""
    keys = {outlet_key(REUTERS, publisher, "s") for publisher in ("Reuters", "Yahoo", None)}
    assert keys == {"reuters"}
    assert outlet_key(GOOGLE, None, "a") == outlet_key(GOOGLE, None, "b")  # a redirect alone


def test_different_outlets_have_different_keys() -> None:
    """Outlets, and blogs on one hosting domain, stay apart."""
    keys = [
        outlet_key(REUTERS, None, "s"),
        outlet_key("https://apnews.com/article/a", None, "s"),
        outlet_key(GOOGLE, "AP", "s"),
        outlet_key(GOOGLE, "BBC News", "s"),
        outlet_key("https://one.substack.com/p/a", None, "s"),
        outlet_key("https://two.substack.com/p/a", None, "s"),
    ]
    assert len(set(keys)) == len(keys), keys


def test_a_copy_naming_no_outlet_falls_back_to_its_link_then_its_source() -> None:
    """A redirect without a publisher is keyed by its link; no link, no publisher: the source."""
    assert outlet_key(GOOGLE, None, "google") == f"link:{GOOGLE}"
    assert outlet_key(GOOGLE, " -- ", "google") == f"link:{GOOGLE}"
    assert outlet_key(None, None, "wire") == "source:wire"
    assert outlet_key("not a url", None, "wire") == "source:wire"
    assert outlet_key(None, "", "wire") != outlet_key(None, "", "agency")


@given(link=st.none() | _texts, publisher=st.none() | _texts, source=_texts)
def test_outlet_key_never_fails_and_is_never_empty(
    link: str | None, publisher: str | None, source: str
) -> None:
    """Any link, publisher and source give a key."""
    assert outlet_key(link, publisher, source)


# --- the index answers as find_story does ------------------------------------------------------

_VOCAB = [
    *("nato", "allies", "agree", "spending", "target", "spain", "rejects", "hague"),
    *("5%", "2%", "2035", "(112.5)"),
]
_items = st.tuples(
    st.lists(st.sampled_from(_VOCAB), min_size=1, max_size=7).map(" ".join),
    st.lists(st.sampled_from(_VOCAB), max_size=12).map(" ".join),
    st.sampled_from([None, "https://a.example/1", "https://b.example/2"]),
)


def new_index(fps: list[tuple[int, StoryFingerprint]], loading: bool) -> StoryIndex[int]:
    """An index of `fps`: holding every fingerprint, or remembering two and loading the rest."""
    if not loading:
        return StoryIndex()
    every = dict(fps)
    loads: list[list[int]] = []

    def load(keys: list[int]) -> dict[int, StoryFingerprint]:
        loads.append(keys)
        return {k: every[k] for k in keys if k in every}

    return StoryIndex(load, cache=2)


@settings(max_examples=300, deadline=None)
@given(
    known=st.lists(_items, max_size=25),
    candidate=_items,
    removed=st.sets(st.integers(0, 24)),
    loading=st.booleans(),
)
def test_story_index_finds_what_find_story_finds(
    known: list[tuple[str, str, str | None]],
    candidate: tuple[str, str, str | None],
    removed: set[int],
    loading: bool,
) -> None:
    """Any stories, any candidate, some removed: the index and the linear scan agree."""
    fps = [(n, fingerprint(*item)) for n, item in enumerate(known)]
    index = new_index(fps, loading)
    for n, fp in fps:
        index.add(n, fp)
    for n in removed:
        index.remove(n)
    kept = [(n, fp) for n, fp in fps if n not in removed]
    wanted = fingerprint(*candidate)
    assert index.find(wanted) == find_story(wanted, kept)
    assert index.keys() == [n for n, _ in kept] and len(index) == len(kept)
    for n, fp in kept:
        assert index.fingerprint(n) == fp


_title_words = st.lists(st.sampled_from(_VOCAB), min_size=3, max_size=7)


@settings(max_examples=300, deadline=None)
@given(
    title=_title_words,
    lede=st.lists(st.sampled_from(_VOCAB), max_size=8),
    edits=st.lists(
        st.tuples(_title_words, st.lists(st.sampled_from(_VOCAB), max_size=8)), max_size=12
    ),
    order=st.randoms(use_true_random=False),
    loading=st.booleans(),
)
def test_story_index_agrees_on_rewrites_of_one_headline(
    title: list[str],
    lede: list[str],
    edits: list[tuple[list[str], list[str]]],
    order: Any,
    loading: bool,
) -> None:
    """Stories that are rewrites of the candidate (words kept, dropped, added): still agreed.

    Random stories rarely come near a candidate; these do, numbers and all, so every way the
    index narrows its search (rare words, numbers held, numbers of no title) is put to work.
    """
    known = []
    for extra, extra_lede in edits:
        words = [w for w in title if order.random() < 0.7] + extra[: order.randrange(4)]
        known.append((" ".join(words) or "x", " ".join(lede + extra_lede), None))
    fps = [(n, fingerprint(*item)) for n, item in enumerate(known)]
    index = new_index(fps, loading)
    for n, fp in fps:
        index.add(n, fp)
    gone = {n for n, _ in fps if order.random() < 0.3}
    for n in gone:
        index.remove(n)
    wanted = fingerprint(" ".join(title), " ".join(lede), None)
    assert index.find(wanted) == find_story(wanted, [(n, fp) for n, fp in fps if n not in gone])


def test_story_index_keeps_number_rules_exact() -> None:
    """A titled number narrows the search, but never past a story the score would accept."""
    candidate = fingerprint("NATO allies back 5% spending target", "A goal for 2035.", None)
    index: StoryIndex[int] = StoryIndex()
    index.add(0, fingerprint("NATO allies back 2% spending target", "", None))  # 5% against 2%
    assert index.find(candidate) is None
    index.add(1, fingerprint("NATO allies back new spending target", "", None))  # no number
    assert index.find(candidate) == 1
    index.remove(1)
    index.add(2, fingerprint("NATO allies back spending target by 2035", "", None))  # its number
    assert index.find(candidate) == 2  # "2035" is in the candidate's lede; "5%" left out
    index.remove(2)
    index.add(3, fingerprint("NATO allies back 5% spending target in 2030", "", None))
    assert index.find(candidate) == 3  # holds all the candidate's numbers
    for fp in (candidate, fingerprint("NATO allies back 5% spending target", "", None)):
        assert index.find(fp) == find_story(fp, [(n, index.fingerprint(n)) for n in index])


def test_story_index_scores_only_stories_that_share_a_rare_word() -> None:
    """A thousand unrelated stories and one near copy: the copy is found, and found alone."""
    index: StoryIndex[int] = StoryIndex()
    for n in range(1000):
        index.add(n, fingerprint(f"Parliament debates budget number {chr(97 + n % 26)}", "", None))
    copy = fingerprint(
        "Spain rejects NATO spending target at Hague summit", "", "https://x.example/1"
    )
    index.add(1000, copy)
    found = fingerprint(
        "Spain rejects NATO's spending target at the Hague", "", "https://y.example/2"
    )
    assert index.find(found) == 1000
    assert index.find(fingerprint("Typhoon hits the Manila coast", "", None)) is None


def test_story_index_compacts_and_still_finds_by_link_and_title() -> None:
    """Most stories removed: the rest keep their links and titles, and load only when asked."""
    topics = ["Dock strike", "Wheat deal", "Grid outage", "Rate cut", "Flood warning"]
    fps = {
        n: fingerprint(f"{topics[n % 5]} talks reach day {'abcdefghij'[n]}", "", f"https://o/{n}")
        for n in range(10)
    }
    loads: list[list[int]] = []

    def load(keys: list[int]) -> dict[int, StoryFingerprint]:
        loads.append(keys)
        return {k: fps[k] for k in keys}

    index: StoryIndex[int] = StoryIndex(load, cache=1)
    for n, fp in fps.items():
        index.add(n, fp)
    for n in (0, 1, 2, 4, 6, 8):  # the sixth removal outnumbers the four left: compaction
        index.remove(n)
    assert list(index) == [3, 5, 7, 9]
    for n in (3, 5, 7, 9):
        assert index.find(fingerprint("Something else entirely here", "", f"https://o/{n}")) == n
        assert index.find(fingerprint(fps[n].title_norm or "", "", None)) == n
    for n in (0, 1, 2, 4, 6, 8):
        assert index.find(fingerprint("Something else entirely here", "", f"https://o/{n}")) is None
    assert loads and all(len(keys) == 1 for keys in loads)  # one story at a time, when asked
    with pytest.raises(KeyError):
        index.fingerprint(0)
