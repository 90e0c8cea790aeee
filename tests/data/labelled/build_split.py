"""Split the labelled headline set into dev and holdout files, by event.

Every item names the real-world event it reports in `event` (items of one event share it). An
item goes to the holdout when the md5 of its event, read as a number, is 0, 1 or 2 modulo 10:
about 30% of events, and copies of one event never straddle the split.

    python tests/data/labelled/build_split.py          # rewrite both files
    python tests/data/labelled/build_split.py --check  # exit 1 if an item is in the wrong file

Reads both files (and, once, any `new_*.jsonl` batches with their `events_*.json` maps of
existing ids to events, which it folds in and deletes), and writes each item to its file in the
order items had (dev first, then holdout). An existing item with no event is its own event
(its id). Running it twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEV = HERE / "signals_dev.jsonl"
HOLDOUT = HERE / "signals_holdout.jsonl"
KEYS = (
    "id",
    "event",
    "title",
    "summary",
    "source",
    "url",
    "published",
    "labels",
    "hard_negative_for",
    "provenance",
    "note",
)


def in_holdout(event: str) -> bool:
    """True when the event hashes into the holdout (about 30% of events)."""
    return int(hashlib.md5(event.encode("utf-8")).hexdigest(), 16) % 10 < 3


def read(path: Path) -> list[dict[str, object]]:
    """The items of one file, each checked for what every item needs."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        item = json.loads(line)
        where = f"{path.name}:{number}"
        if not isinstance(item.get("id"), str) or not item.get("title"):
            raise ValueError(f"{where}: needs a string 'id' and a 'title'")
        for key in ("labels", "hard_negative_for"):
            if not isinstance(item.get(key), list):
                raise ValueError(f"{where}: {item['id']}: '{key}' must be a list")
        items.append(item)
    return items


def ordered(item: dict[str, object]) -> dict[str, object]:
    """The item with its keys in the schema's order (unknown keys last)."""
    return {key: item.get(key) for key in KEYS} | item


def split(
    items: list[dict[str, object]],
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(dev, holdout), each in the given order; ids, urls and titles must be unique."""
    seen: dict[str, set[object]] = {"id": set(), "url": set(), "title": set()}
    dev, holdout = [], []
    for item in items:
        for key, values in seen.items():
            value = item.get(key)
            if value is None:
                continue
            folded = value.casefold() if isinstance(value, str) else value
            if folded in values:
                raise ValueError(f"{item['id']}: {key} {value!r} repeats an earlier item")
            values.add(folded)
        event = item.get("event")
        if not isinstance(event, str) or not event:
            raise ValueError(f"{item['id']}: needs an 'event'")
        (holdout if in_holdout(event) else dev).append(item)
    return dev, holdout


def gather() -> list[dict[str, object]]:
    """Both files' items, with any new batches and event maps folded in."""
    items = read(DEV) + read(HOLDOUT)
    events: dict[str, str] = {}
    for path in sorted(HERE.glob("events_*.json")):
        events.update(json.loads(path.read_text(encoding="utf-8")))
    for item in items:
        event = item.get("event") or events.get(str(item["id"])) or item["id"]
        item["event"] = event
    for path in sorted(HERE.glob("new_*.jsonl")):
        items += read(path)
    return [ordered(item) for item in items]


def write(path: Path, items: list[dict[str, object]]) -> None:
    path.write_text(
        "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8"
    )


def misplaced() -> list[str]:
    """Ids of items in the wrong file (empty when the split holds)."""
    wrong = [str(i["id"]) for i in read(DEV) if in_holdout(str(i.get("event")))]
    wrong += [str(i["id"]) for i in read(HOLDOUT) if not in_holdout(str(i.get("event")))]
    return wrong


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        wrong = misplaced()
        for item_id in wrong:
            print(f"{item_id}: in the wrong file for its event", file=sys.stderr)
        return 1 if wrong else 0
    dev, holdout = split(gather())
    write(DEV, dev)
    write(HOLDOUT, holdout)
    for path in [*HERE.glob("new_*.jsonl"), *HERE.glob("events_*.json")]:
        path.unlink()
    print(f"dev {len(dev)} items, holdout {len(holdout)} items")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
