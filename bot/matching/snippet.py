"""Snippets: a short window of an item's text with the matched words in **bold**.

Feed text is escaped for Discord markdown first, so a headline's own `*` or `_` cannot
bold or hide anything; only our `**` markers format.
"""

from __future__ import annotations

import re

__all__ = ["SNIPPET_LIMIT", "escape_markdown", "make_snippet", "prepare"]

SNIPPET_LIMIT = 200
_CONTEXT_BEFORE = 50  # characters of lead-in before the first matched word
_MARKDOWN = re.compile(r"([\\*_~`|>\[\]#])")
_ELLIPSIS = "…"
_WHITESPACE = re.compile(r"\s")


def escape_markdown(text: str) -> str:
    """Backslash-escape the characters Discord markdown gives meaning to."""
    return _MARKDOWN.sub(r"\\\1", text)


def _same(text: str) -> str:
    return text


def _render(
    text: str, start: int, end: int, spans: list[tuple[int, int]], plain: bool = False
) -> str:
    escape = _same if plain else escape_markdown
    parts: list[str] = []
    if start > 0:
        parts.append(_ELLIPSIS)
    pos = start
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if a >= b or a < pos:
            continue
        parts.append(escape(text[pos:a]))
        parts.append("**" + escape(text[a:b]) + "**")
        pos = b
    parts.append(escape(text[pos:end]))
    if end < len(text):
        parts.append(_ELLIPSIS)
    return "".join(parts)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def prepare(text: str) -> tuple[str, bool]:
    """`text` with each whitespace character a space (one for one, so offsets hold), and
    whether it has nothing to escape: what `make_snippet` needs of a text, worked out once
    when several snippets come from it."""
    text = _WHITESPACE.sub(" ", text)
    return text, _MARKDOWN.search(text) is None


def make_snippet(
    text: str,
    spans: list[tuple[int, int]],
    limit: int = SNIPPET_LIMIT,
    *,
    prepared: tuple[str, bool] | None = None,
) -> str:
    """At most `limit` characters of `text` around `spans`, spans in bold, markdown escaped
    (`prepared`: `prepare(text)`, when the caller made it already)."""
    text, plain = prepared or prepare(text)
    spans = _merge([(a, b) for a, b in spans if 0 <= a < b <= len(text)])
    first = spans[0][0] if spans else 0
    start = max(0, first - _CONTEXT_BEFORE)
    if start > 0:  # begin on a word boundary
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    width = limit
    while width > 0:
        end = min(len(text), start + width)
        if end < len(text):  # end on a word boundary when one is near
            space = text.rfind(" ", start, end)
            if space > start + width // 2:
                end = space
        rendered = _render(text, start, end, spans, plain)
        if len(rendered) <= limit:
            return rendered
        width -= max(1, len(rendered) - limit)
    return ""
