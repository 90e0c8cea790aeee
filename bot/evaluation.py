"""Precision/recall of the compiled watchlist on a labelled set of real headlines.

Each line of a labelled file is a JSON object with `title`, `summary` and `labels` (the signal
ids the item is a hit for); other keys are kept for the report. An item with `judged` (what
`feedback export` writes: the signals subscribers judged on it) is scored on those signals
only: for any other, nobody said whether it should fire. Pure: no I/O but reading files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import SignalwatchError
from bot.matching import Matcher

__all__ = [
    "EvalReport",
    "SignalScore",
    "evaluate",
    "evaluate_file",
    "f1",
    "format_report",
    "precision",
    "recall",
]


def precision(tp: int, fp: int) -> float:
    """tp / (tp + fp); 1.0 when nothing was predicted (no claim, no wrong claim)."""
    return tp / (tp + fp) if tp + fp else 1.0


def recall(tp: int, fn: int) -> float:
    """tp / (tp + fn); 1.0 when there was nothing to find."""
    return tp / (tp + fn) if tp + fn else 1.0


def f1(p: float, r: float) -> float:
    """Harmonic mean of precision and recall; 0.0 when both are 0."""
    return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class SignalScore:
    """Counts and scores for one signal."""

    signal_id: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_positives: list[str] = field(default_factory=list)
    false_negatives: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when the signal never fired."""
        return precision(self.tp, self.fp)

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when the set has no positives for the signal."""
        return recall(self.tp, self.fn)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        return f1(self.precision, self.recall)


@dataclass
class EvalReport:
    """Scores per signal and over the set."""

    items: int
    scores: list[SignalScore]

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the signals that have at least one labelled positive."""
        scored = [s for s in self.scores if s.tp + s.fn > 0]
        return sum(s.f1 for s in scored) / len(scored) if scored else 0.0

    @property
    def micro(self) -> SignalScore:
        """Counts pooled over all signals."""
        total = SignalScore("(all)")
        for s in self.scores:
            total.tp += s.tp
            total.fp += s.fp
            total.fn += s.fn
        return total


def evaluate(matcher: Matcher, items: Iterable[dict[str, object]]) -> EvalReport:
    """Score `matcher` on labelled items."""
    scores = {sid: SignalScore(sid) for sid in matcher.signal_ids}
    count = 0
    for item in items:
        count += 1
        labels = set(item.get("labels") or [])  # type: ignore[call-overload]
        judged = item.get("judged")
        scope = None if judged is None else set(judged)  # type: ignore[call-overload]
        title = str(item.get("title") or "")
        summary = str(item.get("summary") or "")
        got = set(matcher.match_ids(title, summary))
        label = f"{item.get('id', count)}: {title}"
        for sid, score in scores.items():
            if scope is not None and sid not in scope:
                continue
            if sid in got and sid in labels:
                score.tp += 1
            elif sid in got:
                score.fp += 1
                score.false_positives.append(label)
            elif sid in labels:
                score.fn += 1
                score.false_negatives.append(label)
    return EvalReport(count, list(scores.values()))


def _read(paths: Iterable[Path]) -> Iterable[dict[str, object]]:
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SignalwatchError(f"{path}:{number}: not JSON: {exc.msg}") from None
                if not isinstance(item, dict) or "title" not in item:
                    raise SignalwatchError(f"{path}:{number}: expected an object with a title")
                yield item


def evaluate_file(
    matcher: Matcher, paths: Iterable[Path], on_item: Callable[[], None] | None = None
) -> EvalReport:
    """Score `matcher` on one or more labelled JSON-lines files (`on_item`: after each item)."""
    items = _read(paths)
    if on_item is not None:
        items = _each(items, on_item)
    return evaluate(matcher, items)


def _each(
    items: Iterable[dict[str, object]], call: Callable[[], None]
) -> Iterator[dict[str, object]]:
    """`items`, calling `call` after each (a progress bar)."""
    for item in items:
        yield item
        call()


def format_report(report: EvalReport, *, show_errors: bool = False) -> str:
    """A fixed-width table: per signal tp/fp/fn, precision, recall, F1; then macro-F1."""
    lines = [
        f"{'signal':<24} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7} {'f1':>6}"
    ]
    for s in [*report.scores, report.micro]:
        lines.append(
            f"{s.signal_id:<24} {s.tp:>4} {s.fp:>4} {s.fn:>4} "
            f"{s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f}"
        )
    lines.append(f"items: {report.items}   macro-F1: {report.macro_f1:.3f}")
    if show_errors:
        for s in report.scores:
            lines += [f"  FP {s.signal_id}: {x}" for x in s.false_positives]
            lines += [f"  FN {s.signal_id}: {x}" for x in s.false_negatives]
    return "\n".join(lines)
