"""find_story against 100 / 1,000 / 5,000 known stories, and a baseline measured in the same run.

Known stories are the labelled pairs' items (tests/data/stories), repeated with a serial number
(spelt in letters) appended to the title and link so that none is an exact copy; candidates are
the same items, so every lookup does real work (link and title miss, the signature decides).
Per lookup:
  ours      find_story over parsed fingerprints (what the pipeline holds in memory)
  ours+tx   the same, parsing every known fingerprint from its stored text first
  naive     all-pairs Jaccard over lower-cased word sets recomputed from the raw text (what a
            simple bot storing only text does)

    python -m bench.bench_stories [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from bot.stories import StoryFingerprint, find_story, fingerprint

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "data" / "stories").glob("pairs_*.jsonl"))
SIZES = (100, 1000, 5000)
CANDIDATES = 50


def load_items() -> list[tuple[str, str, str]]:
    """(title, summary, link) of every side of every labelled pair."""
    items = []
    for path in CORPUS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                pair = json.loads(line)
                for side in (pair["a"], pair["b"]):
                    items.append((side["title"], side["summary"], side.get("link") or ""))
    return items


def known_items(items: list[tuple[str, str, str]], n: int) -> list[tuple[str, str, str]]:
    """n items cycled from `items`, each title and link made unique by a serial number."""
    out = []
    for i in range(n):
        title, summary, link = items[i % len(items)]
        # A letters-only tag: a digit would be a number, and numbers veto near-duplicates.
        tag = "".join(chr(ord("a") + int(d)) for d in str(i))
        link = f"{link}{'&' if '?' in link else '?'}n={i}" if link else f"https://bench.test/{i}"
        out.append((f"{title} {tag}", summary, link))
    return out


def naive_jaccard(candidate: tuple[str, str, str], known: list[tuple[str, str, str]]) -> int | None:
    """Baseline: the known item with the best word-set Jaccard, tokenising every text."""
    words = set(re.findall(r"\w+", (candidate[0] + " " + candidate[1]).lower()))
    best, best_i = 0.5, None
    for i, (title, summary, _) in enumerate(known):
        other = set(re.findall(r"\w+", (title + " " + summary).lower()))
        score = len(words & other) / len(words | other) if words | other else 0.0
        if score > best:
            best, best_i = score, i
    return best_i


def per_lookup(fn: Callable[[], object], lookups: int, repeat: int) -> float:
    """Seconds per lookup, best of `repeat` runs of `fn` (which does `lookups` lookups)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best / lookups


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    """Run the benchmark and print the table; return its rows."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else 3
    items = load_items()
    candidates = items[:CANDIDATES]
    cand_fps = [fingerprint(*c) for c in candidates]
    print(f"stories: {len(items)} labelled items, {CANDIDATES} candidates per size")
    print(
        f"{'known':>6} {'ours µs':>9} {'ours+tx µs':>11} {'naive µs':>10} "
        f"{'naive/ours':>10} {'naive/ours+tx':>13} {'ours vs 100':>11}"
    )
    rows = []
    base = None
    for n in SIZES:
        known = known_items(items, n)
        fps = [(i, fingerprint(*k)) for i, k in enumerate(known)]
        texts = [(i, fp.to_text()) for i, fp in fps]

        def ours(fps: list[tuple[int, StoryFingerprint]] = fps) -> None:
            for fp in cand_fps:
                find_story(fp, fps)

        def ours_tx(texts: list[tuple[int, str]] = texts) -> None:
            parsed = [(i, StoryFingerprint.from_text(t)) for i, t in texts]
            for fp in cand_fps:
                find_story(fp, parsed)

        def naive(known: list[tuple[str, str, str]] = known) -> None:
            for c in candidates:
                naive_jaccard(c, known)

        t_ours = per_lookup(ours, CANDIDATES, repeat)
        # Parsing happens once per batch of candidates (one poll), so it is shared by them.
        t_tx = per_lookup(ours_tx, CANDIDATES, repeat)
        t_naive = per_lookup(naive, CANDIDATES, 1)
        base = base or t_ours
        rows.append({"known": n, "ours": t_ours, "ours_tx": t_tx, "naive": t_naive})
        print(
            f"{n:>6} {t_ours * 1e6:>9.0f} {t_tx * 1e6:>11.0f} {t_naive * 1e6:>10.0f} "
            f"{t_naive / t_ours:>9.1f}x {t_naive / t_tx:>12.1f}x {t_ours / base:>10.1f}x"
        )
    print(
        "aims: naive/ours ≥ 10x at 1,000 known; per-known cost roughly flat (ours vs 100 ≈ n/100)"
    )
    return rows


if __name__ == "__main__":
    main()
