"""Matcher throughput against two baselines measured in the same run.

For 10, 100, 1,000 and 5,000 signals over the same news items (the labelled set's headlines
and ledes), items/s of:
  ours   the compiled watchlist (normalise, one Aho-Corasick pass, candidate checks, explain)
  (a)    a loop over one compiled `re` per signal (what a simple bot does)
  (b)    a raw Aho-Corasick scan of the same literals over lower-cased text
  (c)    our normalisation (normal_form of title and summary) + that raw scan: the floor a
         matcher with our folding (plurals, numbers, accents) cannot go below
"ids" is ours deciding the same matches without explaining them (`match_ids`: no spans, no
snippets), to show what the explanations cost.
Two watchlists, both generated with a fixed seed:
  random   terms drawn from the whole corpus vocabulary (mostly rare words: few candidates),
           in the shapes real watchlists use (AND of OR-groups, NEAR, phrases, prefixes, NOT);
  topical  2-6 terms each, drawn from the corpus's most common news words (in many items:
           many candidates per item), as AND of OR-groups, the way people write signals.

    python -m bench.bench_match [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import ahocorasick

from bot.matching import Matcher
from bot.matching.matcher import _Item
from bot.matching.normalize import fold_word, normal_form
from bot.matching.text import EntryText

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "data" / "labelled").glob("*.jsonl"))
SIZES = (10, 100, 1000, 5000)
STOP = frozenset(
    {
        "the", "and", "for", "with", "that", "this", "from", "have", "has", "was", "were",
        "will", "would", "said", "says", "into", "over", "after", "about", "their", "there",
        "they", "been", "more", "than", "also", "which", "when", "what", "while", "where",
        "some", "such",
    }
)  # fmt: skip


def load_items() -> list[tuple[str, str]]:
    """(title, summary) of every labelled item."""
    items = []
    for path in CORPUS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                items.append((d["title"], d.get("summary") or ""))
    return items


def vocabulary(items: list[tuple[str, str]]) -> list[str]:
    """Distinct lower-case words of 4+ letters in the corpus, minus stop words."""
    words: set[str] = set()
    for title, summary in items:
        words.update(w for w in re.findall(r"[a-z]{4,}", (title + " " + summary).lower()))
    return sorted(words - STOP)


def make_signals(n: int, vocab: list[str], seed: int = 7) -> list[tuple[str, str, list[str]]]:
    """n (id, query, literals) triples in the shapes real watchlists use."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        w = rng.sample(vocab, 5)
        shape = i % 4
        if shape == 0:
            query, lits = f"{w[0]} AND ({w[1]} OR {w[2]})", w[:3]
        elif shape == 1:
            query, lits = f"({w[0]} OR {w[1]}) NEAR/8 ({w[2]} OR {w[3]})", w[:4]
        elif shape == 2:
            query, lits = f'"{w[0]} {w[1]}" OR ({w[2]} AND {w[3]} NOT {w[4]})', w[:5]
        else:
            query, lits = f"{w[0][:5]}* AND {w[1]}", [w[0][:5], w[1]]
        out.append((f"s{i}", query, lits))
    return out


def topical_signals(
    n: int, items: list[tuple[str, str]], seed: int = 11
) -> list[tuple[str, str, list[str]]]:
    """n (id, query, literals) of 2-6 common news words each, as AND of OR-groups."""
    counts: dict[str, int] = {}
    for title, summary in items:
        for word in set(re.findall(r"[a-z]{4,}", (title + " " + summary).lower())) - STOP:
            counts[word] = counts.get(word, 0) + 1
    common = sorted(counts, key=lambda w: (-counts[w], w))[:1500]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = rng.sample(common, rng.randint(2, 6))
        groups: list[list[str]] = [[words[0]]]
        for word in words[1:]:  # each further word: another OR member, or a new AND group
            if rng.random() < 0.5 and len(groups) < 3:
                groups.append([word])
            else:
                groups[-1].append(word)
        query = " AND ".join("(" + " OR ".join(g) + ")" if len(g) > 1 else g[0] for g in groups)
        out.append((f"t{i}", query, words))
    return out


def rate(fn: Callable[[str, str], object], items: list[tuple[str, str]], repeat: int) -> float:
    """Items per second, best of `repeat` passes over all items."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for title, summary in items:
            fn(title, summary)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def naive_regex(signals: list[tuple[str, str, list[str]]]) -> Callable[[str, str], object]:
    """Baseline (a): one compiled `re` per signal, searched in turn."""
    patterns = [
        re.compile(r"\b(?:" + "|".join(map(re.escape, lits)) + r")", re.IGNORECASE)
        for _, _, lits in signals
    ]

    def run(title: str, summary: str) -> object:
        text = title + "\n" + summary
        return [p for p in patterns if p.search(text)]

    return run


def raw_scan(signals: list[tuple[str, str, list[str]]]) -> Callable[[str, str], object]:
    """Baseline (b): one Aho-Corasick pass of the same literals over lower-cased text."""
    automaton = ahocorasick.Automaton()
    for _, _, lits in signals:
        for lit in lits:
            automaton.add_word(lit, lit)
    automaton.make_automaton()

    def run(title: str, summary: str) -> object:
        return list(automaton.iter((title + "\n" + summary).lower()))

    return run


def normalised_scan(signals: list[tuple[str, str, list[str]]]) -> Callable[[str, str], object]:
    """Baseline (c): our normal form of both fields, then one raw Aho-Corasick pass."""
    automaton = ahocorasick.Automaton()
    for _, _, lits in signals:
        for lit in lits:
            word = fold_word(lit.rstrip("*"))
            if word:
                automaton.add_word(word, word)
    automaton.make_automaton()

    def run(title: str, summary: str) -> object:
        return list(automaton.iter(normal_form(title) + " \0 " + normal_form(summary)))

    return run


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    """Run the benchmark and print the table; return its rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else 3
    items = load_items()
    vocab = vocabulary(items)
    print(f"matcher: {len(items)} items (labelled set), vocabulary {len(vocab)} words")
    rows = []
    for name, sizes, make in (
        ("random", SIZES, lambda n: make_signals(n, vocab)),
        ("topical", (10, 100, 1000), lambda n: topical_signals(n, items)),
    ):
        print(f"\n{name} watchlist")
        print(
            f"{'signals':>7} {'ours it/s':>10} {'(a) re':>8} {'(b) scan':>9} {'(c) norm+scan':>13}"
            f" {'ours/(c)':>8} {'ids/(c)':>7} {'ours/(b)':>8} {'(a)/ours':>8} {'vs 10 sig':>9}"
            f" {'cands/item':>10}"
        )
        base = None
        for n in sizes:
            signals = make(n)
            matcher = Matcher.compile((sid, q) for sid, q, _ in signals)
            ours = rate(matcher.match, items, repeat)
            ids = rate(matcher.match_ids, items, repeat)  # the same decisions, unexplained
            naive = rate(naive_regex(signals), items, 1 if n >= 1000 else repeat)
            floor = rate(raw_scan(signals), items, repeat)
            normalised = rate(normalised_scan(signals), items, repeat)
            base = base or ours
            cands = sum(len(matcher._scan(_probe(matcher, t, s))) for t, s in items) / len(items)
            row = {
                "watchlist": name,
                "signals": n,
                "ours": ours,
                "naive": naive,
                "floor": floor,
                "normalised_floor": normalised,
                "ours_vs_normalised": normalised / ours,
                "ids_vs_normalised": normalised / ids,
                "ours_vs_floor": floor / ours,
                "naive_vs_ours": ours / naive,
                "vs_10": base / ours,
            }
            rows.append(row)
            print(
                f"{n:>7} {ours:>10.0f} {naive:>8.0f} {floor:>9.0f} {normalised:>13.0f}"
                f" {normalised / ours:>7.2f}x {normalised / ids:>6.2f}x {floor / ours:>7.2f}x"
                f" {ours / naive:>7.1f}x"
                f" {base / ours:>8.2f}x {cands:>10.1f}"
            )
    topical = {r["signals"]: r for r in rows if r["watchlist"] == "topical"}
    t1000, t10 = topical[1000], topical[10]
    print(
        "\naims (issue 15): 1,000 topical signals within 3x of (c):"
        f" {t1000['ours_vs_normalised']:.2f}x"
        f" {'met' if t1000['ours_vs_normalised'] <= 3 else 'NOT MET'};"
        f" 1,000 topical signals cost <= 2x of 10: {t10['ours'] / t1000['ours']:.2f}x"
        f" {'met' if t10['ours'] / t1000['ours'] <= 2 else 'NOT MET'}"
    )
    return rows


def _probe(matcher: Matcher, title: str, summary: str) -> _Item:
    return _Item(EntryText(title, summary))


if __name__ == "__main__":
    main()
