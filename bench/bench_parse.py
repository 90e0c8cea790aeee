"""Parse cost per feed body: the fast path against feedparser (`parse_feed(fast=False)`).

Each body is parsed by `bot.sources.feeds.parse_feed` both ways, CPU time (process_time) per
parse, the best of `--repeat` rounds of `--rounds` parses (the least disturbed by other load
on the machine). `parse_feed` is timed whole, XML to finished entries (text cleaning, links,
keys: work both paths share), and the XML step alone: `fastfeed.parse_fast` against
`feedparser.parse` as parse_feed calls it.

  dense-30      bench/feedserver.py's /gen feed: 30 items, every headline unique
  realistic-30  its /real feed: 30 real headlines and ledes (tests/data/labelled)
  dense-1000    the /gen feed at the entry cap (1,000 items; a twentieth of the rounds)
  <file>        the outlet-modelled feeds in tests/data/feeds (RSS, RDF, Atom)

    python -m bench.bench_parse [--rounds N] [--repeat R]
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path

import feedparser

from bench import feedserver
from bench.bench_poll import _story_mix
from bot.sources.fastfeed import parse_fast
from bot.sources.feeds import parse_feed

ROOT = Path(__file__).resolve().parent.parent
URL = "https://feeds.example.org/feed"
OUTLETS = (
    "bbc_world.xml", "guardian_world.xml", "aljazeera_all.xml", "dw_all.rdf.xml",
    "govuk_mod.atom.xml", "google_news_search.xml", "japantimes.xml",
)  # fmt: skip


def _best_ms(parse: Callable[[], object], rounds: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(rounds):
            parse()
        best = min(best, (time.process_time() - start) / rounds)
    return best * 1000


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    """Time both parse paths on each body and print the table with the speed-up."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="parses per timed round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best one counts")
    args = parser.parse_args(argv)
    mix = _story_mix(feedserver.StoryMix)
    bodies = [
        ("dense-30", feedserver._generated_feed(0, 30, 0)),
        ("realistic-30", feedserver._realistic_feed(0, 30, 0, mix)),
        ("dense-1000", feedserver._generated_feed(0, 1000, 0)),
    ]
    bodies += [(name, (feedserver.DATA_DIR / name).read_bytes()) for name in OUTLETS]
    print(
        f"parse_feed CPU per body, best of {args.repeat} rounds of {args.rounds};"
        " feedparser = parse_feed(fast=False), as before the fast path"
    )
    header = (
        f"{'body':<24} {'items':>5} {'path':<6} {'fast ms':>8} {'feedparser ms':>13}"
        f" {'speed-up':>8}   {'XML only: fast':>14} {'feedparser':>10} {'speed-up':>8}"
    )
    print(header)
    print("-" * len(header))
    rows: list[dict[str, object]] = []
    for name, body in bodies:
        rounds = max(1, args.rounds // 20) if len(body) > 100_000 else args.rounds
        fast = parse_feed("bench", body, url=URL, content_type="application/rss+xml")
        fast_ms = _best_ms(
            lambda body=body: parse_feed("bench", body, url=URL), rounds, args.repeat
        )
        slow_ms = _best_ms(
            lambda body=body: parse_feed("bench", body, url=URL, fast=False),
            rounds,
            args.repeat,
        )
        xml_ms = _best_ms(lambda body=body: parse_fast(body, None), rounds, args.repeat)
        feedparser_ms = _best_ms(
            lambda body=body: feedparser.parse(
                io.BytesIO(body),
                response_headers={"content-type": "application/xml"},
                sanitize_html=False,
                resolve_relative_uris=False,
            ),
            rounds,
            args.repeat,
        )
        rows.append(
            {
                "body": name,
                "fast_ms": fast_ms,
                "feedparser_ms": slow_ms,
                "xml_fast_ms": xml_ms,
                "xml_feedparser_ms": feedparser_ms,
            }
        )
        print(
            f"{name:<24} {len(fast.entries):>5} {fast.parser:<6} {fast_ms:>8.3f}"
            f" {slow_ms:>13.3f} {slow_ms / fast_ms:>7.1f}x   {xml_ms:>14.3f}"
            f" {feedparser_ms:>10.3f} {feedparser_ms / xml_ms:>7.1f}x"
        )
    return rows


if __name__ == "__main__":
    main()
