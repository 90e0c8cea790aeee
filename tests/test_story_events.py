"""The event rule of the story detector (issue 13, part 5): what merges, what stays apart, why.

The pairs are real items from tests/data/stories/pairs_dev.jsonl, read by id (each item keeps its
publisher and link there); content alone is compared, no window.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.model import Alert, StoryUpdate, StoryUpdateAlert
from bot.sinks.console import ConsoleSink
from bot.store.codec import alert_from_json, alert_to_json
from bot.stories import (
    SCHEME,
    MergeReason,
    StoryFingerprint,
    StoryIndex,
    find_story,
    fingerprint,
    merge_reason,
    same_story,
    similarity,
)

PAIRS = Path(__file__).resolve().parent / "data" / "stories"


def _pair(pair_id: str) -> tuple[StoryFingerprint, StoryFingerprint]:
    """The two items of a labelled dev pair, fingerprinted without their links."""
    for line in (PAIRS / "pairs_dev.jsonl").read_text(encoding="utf-8").splitlines():
        pair = json.loads(line)
        if pair["id"] == pair_id:
            a, b = pair["a"], pair["b"]
            return (
                fingerprint(a["title"], a.get("summary") or "", None),
                fingerprint(b["title"], b.get("summary") or "", None),
            )
    raise KeyError(pair_id)


@pytest.mark.parametrize(
    "pair_id",
    [
        # two troop pledges: 8,000 peacekeepers (10 Feb) and 1,000 troops by April (16 Feb)
        "diff-gaza-indo-8000--gaza-sovereignista-1000-by-april",
        # a summit's run-up and its outcome: "to sign this week" (28 Apr) / "sign" (30 Apr)
        "diff-asia-nz-sovfa-signed--asia-philstar-nz-to-sign-vfa",
        # leaders head to peace talks (28 Jul) / the ceasefire agreed there (29 Jul)
        "diff-other-thaicam-leaders-head--ukr-hn-newsbytes-thai-cambodia",
        # two ceasefires, two pairs of countries
        "diff-other-israel-iran-ceasefire--ukr-hn-newsbytes-thai-cambodia",
        # two 15% tariff deals within a week: Japan's and the EU's
        "diff-tar-japan-deal--tar-eu-turnberry",
    ],
)
def test_hard_negatives_stay_apart(pair_id: str) -> None:
    """Different events of one signal that share most of their words do not merge."""
    a, b = _pair(pair_id)
    assert not same_story(a, b)
    assert merge_reason(a, b) == MergeReason((), 0.0)


@pytest.mark.parametrize(
    "pair_id",
    [
        "same-usc-geneva-1",  # "agree to slash tariffs in a 90-day truce" / "partial suspension"
        "same-usc-geneva-3",
        "same-tar-usmca-march-2",  # "Spared From 25% Tariff" / "Tariffs postponed for USMCA"
        "same-gaza-indo-8000-2",  # "could send as many as 8,000" / "preparing to deploy up to"
    ],
)
def test_rewrites_of_one_event_merge(pair_id: str) -> None:
    """Two outlets' own words for one event merge on what pins the event down."""
    a, b = _pair(pair_id)
    assert same_story(a, b)
    assert same_story(b, a)


def test_the_reason_names_entities_then_numbers_then_words() -> None:
    """What two items shared, rarest first within named entities, numbers and other words."""
    a, b = _pair("same-gaza-indo-8000-2")
    reason = merge_reason(a, b)
    assert reason.score == similarity(a, b) and reason.score > 0
    # "Gaza" is named inside a sentence (an entity); "Indonesia" opens both, so counts as a word
    assert reason.shared[:2] == ("gaza", "8000")
    assert set(reason.shared[2:]) == {"soldier", "indonesia"}
    assert reason.describe() == ", ".join(reason.shared)


def test_the_link_and_title_rules_say_so() -> None:
    """A merge by link or headline is explained by the rule, not by words."""
    a = fingerprint("NATO allies agree to spend 5% of GDP", "x", "https://a.example/1")
    b = fingerprint("Something else entirely here", "y", "https://a.example/1")
    c = fingerprint("NATO allies agree to spend 5% of GDP", "z", None)
    assert merge_reason(a, b) == MergeReason(("same link",), 1.0)
    assert merge_reason(a, c) == MergeReason(("same headline",), 1.0)


def test_place_names_fold() -> None:
    """Demonyms and two-word names meet their country ("U.S."/"United States", "Spanish")."""
    a = fingerprint("United States and Spanish sign port accord", "", None)
    b = fingerprint("US, Spain sign port accord", "", None)
    assert a.title_words == b.title_words


# A fingerprint exactly as the previous version (scheme sw1) stored it, for the real item above.
SW1_TEXT = (
    "sw1\thttps://ground.news/article/trump-extends-china-tariff-truce\ttrump signs order "
    "extending china tariff truce by 90 days white house says\tKZOYKhdoZSB9dN4NfpH-hK_poCmQvtu0"
    "z82k1Tmd78Ik\tBOulGkNmKZOYKhdoT68SWFwxZSB9cqeqhK_pi9IUkKupk7hplYMtmJWYmpLtoCmQrSM-u9jDvtu07"
    "8Ik\thK_p"
)


def test_a_fingerprint_stored_by_the_previous_version_still_loads() -> None:
    """An sw1 row loads with its link and title (no signature), and those rules still work."""
    old = StoryFingerprint.from_text(SW1_TEXT)
    assert SCHEME != "sw1" and old.scheme == "sw1"
    assert old.link == "https://ground.news/article/trump-extends-china-tariff-truce"
    assert old.title_norm is not None and old.title_norm.startswith("trump signs order")
    assert old.words == frozenset() and old.entities == frozenset()
    assert old.to_text() == "\t".join(SW1_TEXT.split("\t")[:3])  # kept as it can be
    same_link = fingerprint("Another headline for it", "", old.link)
    rewrite = fingerprint("Trump signs order extending China tariff truce", "", None)
    assert similarity(same_link, old) == 1.0
    assert similarity(rewrite, old) == 0.0  # no signature to compare with
    index: StoryIndex[int] = StoryIndex()
    index.add(7, old)
    assert index.find(same_link) == 7 and index.find(rewrite) is None


def test_the_new_text_form_round_trips() -> None:
    """to_text/from_text keep every set and the preview flag (the terms stay behind)."""
    a, _ = _pair("diff-asia-nz-sovfa-signed--asia-philstar-nz-to-sign-vfa")
    _, preview = _pair("diff-asia-nz-sovfa-signed--asia-philstar-nz-to-sign-vfa")
    for fp in (a, preview):
        back = StoryFingerprint.from_text(fp.to_text())
        assert back == fp and back.entities == fp.entities and back.preview == fp.preview
        assert not back.terms and fp.terms
    assert preview.preview and not a.preview


def test_index_agrees_with_the_scan_on_the_dev_items() -> None:
    """The index's candidate lookup (weighted postings, then best-first scoring) gives the
    answer scoring every story gives, on every dev item against all the others."""
    items: list[StoryFingerprint] = []
    for line in (PAIRS / "pairs_dev.jsonl").read_text(encoding="utf-8").splitlines():
        pair = json.loads(line)
        for side in (pair["a"], pair["b"]):
            items.append(fingerprint(side["title"], side.get("summary") or "", None))
    known = list(enumerate(items[::2]))
    index: StoryIndex[int] = StoryIndex()
    for key, fp in known:
        index.add(key, fp)
    found = 0
    for candidate in items[1::2]:
        expected = find_story(candidate, known)
        assert index.find(candidate) == expected
        match = index.match(candidate)
        assert (match.key if match else None) == expected
        if match is not None:
            found += 1
            assert match.reason.shared and match.reason.score == match.score
    assert found > 100  # the test compares real answers, not only "none"


def _update(merged_on: tuple[str, ...]) -> StoryUpdateAlert:
    return StoryUpdateAlert(
        alert_id="upd-a1-3",
        signal_id="nato-5pct",
        destination="console",
        title="NATO leaders agree 5% goal at The Hague",
        link="https://b.example/1",
        source_id="b",
        published=datetime(2025, 6, 25, 12, 0, tzinfo=UTC),
        terms=("NATO", "5%"),
        snippet="",
        update_of="a1",
        merged_on=merged_on,
        outlets=3,
    )


def test_the_reason_is_stored_with_the_update_and_old_rows_still_decode() -> None:
    """merged_on and outlets round-trip through the outbox codec; a row without them (from
    the previous version) decodes with none."""
    update = _update(("nato", "hague", "5%", "2035"))
    back = alert_from_json(alert_to_json(update))
    assert back == update and isinstance(back, StoryUpdateAlert)
    assert back.merged_on == ("nato", "hague", "5%", "2035") and back.outlets == 3
    doc = json.loads(alert_to_json(update))
    del doc["merged_on"], doc["outlets"]
    old = alert_from_json(json.dumps(doc))
    assert isinstance(old, StoryUpdateAlert) and old.merged_on == () and old.outlets == 0


def test_the_console_line_says_what_merged_and_why() -> None:
    """The console's story-update line names the outlets and the shared terms."""
    original = Alert(
        alert_id="a1",
        signal_id="nato-5pct",
        destination="console",
        title="NATO allies agree 5% of GDP by 2035",
        link="https://a.example/1",
        source_id="a",
        published=None,
        terms=(),
        snippet="",
    )
    for fmt in ("text", "json"):
        out = io.StringIO()
        sink = ConsoleSink(fmt, stream=out, colour=False)
        update = StoryUpdate(original, None, None, merged_on=("nato", "hague", "5%", "2035"))
        asyncio.run(sink.update(update))
        if fmt == "text":
            assert "    merged on: nato, hague, 5%, 2035" in out.getvalue().splitlines()
        else:
            assert json.loads(out.getvalue())["merged_on"] == ["nato", "hague", "5%", "2035"]


def test_eval_stories_errors_print_the_shared_terms(capsys: pytest.CaptureFixture[str]) -> None:
    """`eval-stories --errors` shows, for each wrong or missed merge, what the two shared."""
    path = str(PAIRS / "pairs_dev.jsonl")
    assert main(["eval-stories", path, "--errors"]) == 0
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  F")]
    assert errors and all("[shared: " in line for line in errors)
    assert any("[shared: nothing]" not in line for line in errors)


def test_items_published_days_apart_never_merge() -> None:
    """The dates rule: a rewrite published three days later is another story (items of one
    poll meet whatever their age), one published the next day is not kept apart by it."""
    a, b = _pair("same-usc-geneva-3")
    day = datetime(2025, 5, 12, 9, 0, tzinfo=UTC)
    title_a = "China, U.S. Agree to Cut Tariffs, Pause Trade War for 90 Days"
    summary_a = (
        "The United States and China agreed Monday to significantly reduce tariffs and pause "
        "their trade war for 90 days to allow for further negotiations"
    )
    on_day = fingerprint(title_a, summary_a, None, day)
    assert on_day.day is not None and StoryFingerprint.from_text(on_day.to_text()) == on_day
    b_next = StoryFingerprint.from_text(b.to_text().rsplit("\t", 1)[0] + f"\t{on_day.day + 1}")
    b_later = StoryFingerprint.from_text(b.to_text().rsplit("\t", 1)[0] + f"\t{on_day.day + 3}")
    assert same_story(a, b) and same_story(on_day, b_next)
    assert not same_story(on_day, b_later) and similarity(on_day, b_later) == 0.0
