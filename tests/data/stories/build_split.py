"""Split the labelled same-story pairs into dev and holdout files, by event.

Every pair names its event(s) in `events`, derived from its id: `same-<event>-<n>` is one event,
`diff-<event a>--<event b>` two. A pair goes to the holdout when the md5 of its event key (for a
different-story pair, the alphabetically first of its two) read as a number is 0, 1 or 2 modulo
10: about 30% of events, and every same-story pair of an event lands in the same file.

    python tests/data/stories/build_split.py          # rewrite both files
    python tests/data/stories/build_split.py --check  # exit 1 if a pair is in the wrong file

Reads both files, fills in `events`, and writes each pair to its file, keeping the order pairs had
(dev pairs first, then holdout pairs). Running it twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEV = HERE / "pairs_dev.jsonl"
HOLDOUT = HERE / "pairs_holdout.jsonl"
KEYS = ("id", "events", "a", "b", "same", "note")


def events_of(pair_id: str) -> list[str]:
    """The event key(s) a pair id names."""
    if pair_id.startswith("same-"):
        event, _, n = pair_id[len("same-") :].rpartition("-")
        if not event or not n.isdigit():
            raise ValueError(f"{pair_id}: expected same-<event>-<n>")
        return [event]
    if pair_id.startswith("diff-"):
        first, sep, second = pair_id[len("diff-") :].partition("--")
        if not sep or not first or not second or first == second:
            raise ValueError(f"{pair_id}: expected diff-<event a>--<event b>")
        return [first, second]
    raise ValueError(f"{pair_id}: id must start with same- or diff-")


def in_holdout(events: list[str]) -> bool:
    """True when the pair's split event hashes into the holdout (about 30% of events)."""
    key = min(events)
    return int(hashlib.md5(key.encode("utf-8")).hexdigest(), 16) % 10 < 3


def read(path: Path) -> list[dict[str, object]]:
    """The pairs of one file, each checked for the keys and kinds every pair needs."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        pair = json.loads(line)
        where = f"{path.name}:{number}"
        if not isinstance(pair.get("id"), str) or not isinstance(pair.get("same"), bool):
            raise ValueError(f"{where}: needs a string 'id' and a boolean 'same'")
        events = events_of(pair["id"])
        if pair["same"] != (len(events) == 1):
            raise ValueError(f"{where}: {pair['id']}: 'same' disagrees with the id")
        if "events" in pair and pair["events"] != events:
            raise ValueError(f"{where}: {pair['id']}: 'events' disagrees with the id")
        for side in ("a", "b"):
            item = pair.get(side)
            if not isinstance(item, dict) or not item.get("title") or not item.get("publisher"):
                raise ValueError(f"{where}: '{side}' needs a title and a publisher")
        if not pair.get("note"):
            raise ValueError(f"{where}: needs a note")
        pair["events"] = events
        pairs.append({key: pair[key] for key in KEYS} | pair)
    return pairs


def split(
    pairs: list[dict[str, object]],
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(dev, holdout), each in the given order; ids must be unique."""
    seen: set[object] = set()
    dev, holdout = [], []
    for pair in pairs:
        if pair["id"] in seen:
            raise ValueError(f"{pair['id']}: duplicate id")
        seen.add(pair["id"])
        events = pair["events"]
        assert isinstance(events, list)
        (holdout if in_holdout(events) else dev).append(pair)
    return dev, holdout


def dump(pairs: list[dict[str, object]]) -> str:
    return "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)


def misplaced() -> list[str]:
    """Ids of pairs that are not in the file the split sends them to."""
    dev_now, holdout_now = read(DEV), read(HOLDOUT)
    dev, holdout = split(dev_now + holdout_now)
    dev_ids = {p["id"] for p in dev}
    holdout_ids = {p["id"] for p in holdout}
    return [str(p["id"]) for p in dev_now if p["id"] not in dev_ids] + [
        str(p["id"]) for p in holdout_now if p["id"] not in holdout_ids
    ]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        wrong = misplaced()
        for pair_id in wrong:
            print(f"{pair_id}: in the wrong file", file=sys.stderr)
        return 1 if wrong else 0
    dev, holdout = split(read(DEV) + read(HOLDOUT))
    DEV.write_text(dump(dev), encoding="utf-8")
    HOLDOUT.write_text(dump(holdout), encoding="utf-8")
    for name, pairs in (("dev", dev), ("holdout", holdout)):
        same = sum(1 for p in pairs if p["same"])
        print(f"{name}: {len(pairs)} pairs, {same} same, {len(pairs) - same} different")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
