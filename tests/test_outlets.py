"""One readable name per outlet, whichever source found the copy (bot/outlets.py)."""

from __future__ import annotations

from bot.outlets import display_name, other_outlets
from bot.store.records import StoryCopy
from bot.stories import outlet_key


def test_a_named_publisher_is_shown_as_given() -> None:
    assert display_name("Reuters", "https://www.reuters.com/x", "newsapi") == "Reuters"


def test_a_bare_domain_of_a_well_known_outlet_gets_its_name() -> None:
    """GDELT's "reuters.com" and NewsAPI's "Reuters" read alike."""
    assert display_name("reuters.com", "https://www.reuters.com/x", "gdelt") == "Reuters"
    assert display_name("aa.com.tr", "https://www.aa.com.tr/en/x", "gdelt") == "Anadolu Agency"


def test_an_unknown_domain_stays_a_domain_and_nothing_is_our_source() -> None:
    assert display_name("b-paper.com", "https://b-paper.com/1", "gdelt") == "b-paper.com"
    assert display_name(None, None, "wire") == "wire"


def test_other_outlets_take_the_best_name_any_copy_of_that_outlet_gives() -> None:
    """A GDELT copy (domain only) of an outlet NewsAPI named is shown by NewsAPI's name; the
    story's own outlet is left out; one entry per outlet, in the order they came."""
    copies = [
        StoryCopy("newsapi", "1", "Own", "https://a-wire.com/1", "A Wire"),
        StoryCopy("gdelt", "2", "T2", "https://www.smalltown.example/2", "smalltown.example"),
        StoryCopy("newsapi", "3", "T3", "https://smalltown.example/3", "Smalltown Gazette"),
        StoryCopy("gdelt", "4", "T4", "https://trtworld.com/4", "trtworld.com"),
    ]
    own = outlet_key("https://a-wire.com/1", "A Wire", "newsapi")
    also = other_outlets(copies, own)
    assert [(c.outlet, c.title) for c in also] == [
        ("Smalltown Gazette", "T2"),
        ("TRT World", "T4"),
    ]


def test_outlets_of_huge_links_are_worked_out_but_not_remembered() -> None:
    """The memo holds ordinary links only: a feed of megabyte links keeps none alive."""
    from bot.stories import outlets

    outlets._remembered_outlet_key.cache_clear()
    before = outlets._remembered_outlet_key.cache_info().currsize
    huge = "https://www.reuters.com/world/" + "a" * 5_000
    assert outlets.outlet_key(huge, None, "src") == "reuters"
    assert outlets._remembered_outlet_key.cache_info().currsize == before
    outlets.outlet_key("https://www.reuters.com/world/short", None, "src")
    assert outlets._remembered_outlet_key.cache_info().currsize == before + 1
