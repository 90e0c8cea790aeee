"""Precision/recall of `same_story` on labelled pairs of real news items.

Each line of a pairs file is a JSON object `{"id", "a": {...}, "b": {...}, "same": bool, "note"}`
where `a` and `b` hold `title`, `summary` and optionally `link` (other keys are kept for the
report). A true positive is a pair labelled `same` that `same_story` merges; a false positive is a
different-story pair it merges (an alert lost), a false negative a same-story pair it keeps apart
(an alert repeated). Pure: no I/O but reading files.

In production only stories inside the window (DEFAULT_WINDOW) are compared. With `window` set, a
pair whose `published` dates (YYYY-MM-DD, YYYY-MM or YYYY) are certainly further apart than the
window is never merged, as the store would never offer one to the other ("2025-03" and
"2025-06-22" are; "2025-06" and "2025-06-22" may not be); a pair with a date missing is assumed
to fall inside the window. With `window=None` every pair is compared on content
alone: the worst case, where a different story on the same topic lands inside the window.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from bot.errors import SignalwatchError
from bot.evaluation import f1, precision, recall
from bot.stories import DEFAULT_WINDOW, NEAR_DUPLICATE_THRESHOLD, fingerprint, merge_reason

__all__ = [
    "PairResult",
    "StoryEvalReport",
    "evaluate_pairs",
    "evaluate_pairs_file",
    "format_story_report",
]


@dataclass(frozen=True)
class PairResult:
    """One labelled pair with the detector's score and verdict."""

    pair_id: str
    same: bool
    score: float
    merged: bool
    outside_window: bool
    title_a: str
    title_b: str
    note: str
    shared: tuple[str, ...] = ()  # what the two share, as the detector sees it

    def describe(self) -> str:
        """One line for the confusion lists."""
        window = ", outside the window" if self.outside_window else ""
        shared = f" [shared: {', '.join(self.shared)}]" if self.shared else " [shared: nothing]"
        return (
            f"{self.pair_id} ({self.score:.2f}{window}): {self.title_a!r} | {self.title_b!r}"
            f"{shared} — {self.note}"
        )


@dataclass
class StoryEvalReport:
    """Counts, scores and the confusions over a set of labelled pairs."""

    results: list[PairResult] = field(default_factory=list)

    @property
    def tp(self) -> int:
        """Same-story pairs merged."""
        return sum(1 for r in self.results if r.same and r.merged)

    @property
    def fp(self) -> int:
        """Different-story pairs merged: each one loses an alert."""
        return sum(1 for r in self.results if not r.same and r.merged)

    @property
    def fn(self) -> int:
        """Same-story pairs kept apart: each one repeats an alert."""
        return sum(1 for r in self.results if r.same and not r.merged)

    @property
    def tn(self) -> int:
        """Different-story pairs kept apart."""
        return sum(1 for r in self.results if not r.same and not r.merged)

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was merged."""
        return precision(self.tp, self.fp)

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when there are no same-story pairs."""
        return recall(self.tp, self.fn)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        return f1(self.precision, self.recall)

    @property
    def false_positives(self) -> list[PairResult]:
        """Wrong merges."""
        return [r for r in self.results if not r.same and r.merged]

    @property
    def false_negatives(self) -> list[PairResult]:
        """Missed merges."""
        return [r for r in self.results if r.same and not r.merged]


def _side(pair: dict[str, object], name: str, where: str) -> dict[str, object]:
    """The `a` or `b` object of a pair, checked."""
    side = pair.get(name)
    if not isinstance(side, dict) or not isinstance(side.get("title"), str):
        raise SignalwatchError(f"{where}: '{name}' must be an object with a string 'title'")
    return side


def _span(side: dict[str, object]) -> tuple[date, date] | None:
    """The days the side's `published` allows, [first, last + 1): a day, a month or a year."""
    published = side.get("published")
    if not isinstance(published, str):
        return None
    try:
        if len(published) == 10:
            day = date.fromisoformat(published)
            return day, day + timedelta(days=1)
        if len(published) == 7:
            year, month = int(published[:4]), int(published[5:])
            last = calendar.monthrange(year, month)[1]
            return date(year, month, 1), date(year, month, last) + timedelta(days=1)
        if len(published) == 4:
            year = int(published)
            return date(year, 1, 1), date(year + 1, 1, 1)
    except ValueError:
        return None
    return None


def _outside(a: dict[str, object], b: dict[str, object], window: timedelta | None) -> bool:
    """True when the two items were certainly published further apart than `window`.

    Dates may be a day, a month or a year: the closest two items can be is the gap between the
    spans their dates allow (days d apart: (d - 1) days; "2025-03" and "2025-04-28": 27 days).
    """
    span_a, span_b = _span(a), _span(b)
    if window is None or span_a is None or span_b is None:
        return False
    gap = max(span_a[0] - span_b[1], span_b[0] - span_a[1])
    return gap >= window


def evaluate_pairs(
    pairs: Iterable[tuple[str, dict[str, object]]],
    *,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
    window: timedelta | None = DEFAULT_WINDOW,
) -> StoryEvalReport:
    """Score `same_story` (at `threshold`, inside `window`) on (where, pair) tuples."""
    report = StoryEvalReport()
    for where, pair in pairs:
        a, b = _side(pair, "a", where), _side(pair, "b", where)
        if not isinstance(pair.get("same"), bool):
            raise SignalwatchError(f"{where}: 'same' must be true or false")
        fa = fingerprint(str(a["title"]), str(a.get("summary") or ""), _link(a))
        fb = fingerprint(str(b["title"]), str(b.get("summary") or ""), _link(b))
        reason = merge_reason(fa, fb)
        score = reason.score
        outside = _outside(a, b, window)
        report.results.append(
            PairResult(
                pair_id=str(pair.get("id") or where),
                same=bool(pair["same"]),
                score=score,
                merged=score >= threshold and not outside,
                outside_window=outside,
                title_a=str(a["title"]),
                title_b=str(b["title"]),
                note=str(pair.get("note") or ""),
                shared=reason.shared,
            )
        )
    return report


def _link(side: dict[str, object]) -> str | None:
    link = side.get("link")
    return link if isinstance(link, str) and link else None


def _read(paths: Iterable[Path]) -> Iterable[tuple[str, dict[str, object]]]:
    """(path:line, pair) for every non-blank line of `paths`."""
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    pair = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SignalwatchError(f"{where}: not JSON: {exc.msg}") from None
                if not isinstance(pair, dict):
                    raise SignalwatchError(f"{where}: expected a JSON object")
                yield where, pair


def evaluate_pairs_file(
    paths: Iterable[Path],
    *,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
    window: timedelta | None = DEFAULT_WINDOW,
    on_pair: Callable[[], None] | None = None,
) -> StoryEvalReport:
    """Score `same_story` on one or more labelled pairs files (`on_pair`: after each pair)."""
    pairs = _read(paths)
    if on_pair is not None:
        pairs = _each(pairs, on_pair)
    return evaluate_pairs(pairs, threshold=threshold, window=window)


def _each(
    pairs: Iterable[tuple[str, dict[str, object]]], call: Callable[[], None]
) -> Iterator[tuple[str, dict[str, object]]]:
    """`pairs`, calling `call` after each (a progress bar)."""
    for pair in pairs:
        yield pair
        call()


def format_story_report(report: StoryEvalReport, *, show_errors: bool = False) -> str:
    """Counts, precision, recall and F1 on one line each; the confusions on request."""
    same = report.tp + report.fn
    lines = [
        f"pairs: {len(report.results)} ({same} same story, {report.fp + report.tn} different)",
        f"tp {report.tp}  fp {report.fp}  fn {report.fn}  tn {report.tn}",
        f"precision {report.precision:.3f}  recall {report.recall:.3f}  f1 {report.f1:.3f}",
    ]
    if show_errors:
        lines += [f"  FP (wrong merge) {r.describe()}" for r in report.false_positives]
        lines += [f"  FN (missed merge) {r.describe()}" for r in report.false_negatives]
    return "\n".join(lines)
