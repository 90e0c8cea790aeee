"""What inflections cost the matcher: the same signals compiled with and without them.

bench_match's generated watchlists (10 to 5,000 signals over the labelled set's vocabulary)
are compiled twice, once as shipped and once with no inflected spellings, and both are run
over the labelled items. Passes alternate between the two and each keeps its best, in CPU
time, so a busy shared machine slows both alike. The aim (issue 16): no more than 1.3x.

    python -m bench.bench_inflect [--quick]
"""

from __future__ import annotations

import argparse
import time

import bot.matching.matcher as matcher_module
from bench.bench_match import SIZES, load_items, make_signals, vocabulary
from bot.matching import Matcher

AIM = 1.3


def _best_pass(matcher: Matcher, items: list[tuple[str, str]]) -> float:
    """CPU seconds of one pass over `items`."""
    start = time.process_time()
    for title, summary in items:
        matcher.match(title, summary)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    """Run the comparison and print its table; return its rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args(argv)
    repeat = 2 if args.quick else 15
    items = load_items()
    vocab = vocabulary(items)
    print(f"inflections: {len(items)} items, best of {repeat} alternating passes (CPU time)")
    print(
        f"{'signals':>7} {'without it/s':>12} {'with it/s':>10} {'cost':>6} "
        f"{'patterns':>9} {'+inflected':>10}"
    )
    rows = []
    for n in SIZES:
        signals = [(sid, query) for sid, query, _ in make_signals(n, vocab)]
        kept = matcher_module._MAX_INFLECTED_PATTERNS
        matcher_module._MAX_INFLECTED_PATTERNS = 0
        try:
            plain = Matcher.compile(signals)
        finally:
            matcher_module._MAX_INFLECTED_PATTERNS = kept
        inflected = Matcher.compile(signals)
        best = [float("inf"), float("inf")]
        for _ in range(repeat):
            best[0] = min(best[0], _best_pass(plain, items))
            best[1] = min(best[1], _best_pass(inflected, items))
        without, with_ = len(items) / best[0], len(items) / best[1]
        patterns = len(plain._automaton)
        extra = len(inflected._automaton) - patterns
        rows.append({"signals": n, "without": without, "with": with_, "cost": without / with_})
        print(
            f"{n:>7} {without:>12.0f} {with_:>10.0f} {without / with_:>5.2f}x "
            f"{patterns:>9} {extra:>10}",
            flush=True,
        )
    print(f"aim: cost ≤ {AIM}x at every size")
    return rows


if __name__ == "__main__":
    main()
