"""One item's text, normalised once for everything that reads it.

    EntryText(title, summary)
        .fields[i]   the field as read (also .title, .summary): at most MAX_TITLE_CHARS /
                     MAX_SUMMARY_CHARS, cut before a split word, lone surrogates as U+FFFD
        .normal(i)   its normal form, space-joined (`normalize.normal_form`): the matcher's scan
        .tokens(i)   its tokens with their spans (`normalize.tokenize`): the matcher's
                     explanation and the story fingerprint

Field 0 is the title, 1 the summary. Each form is computed at most once per item, on first
use: an item that matches nothing is never tokenised, and one that matches is tokenised once
for both its explanation and its story (a property test holds `normal` and `tokens` to the
same words). The identity keys of `bot.sources.entries` (`normalised_title`, `entry_key`) are
another thing: they are stored, so they must not change when matching's rules do.

Pure: no I/O.
"""

from __future__ import annotations

import re

from bot.matching.normalize import Token, normal_form, scrub_surrogates, tokenize

__all__ = ["MAX_SUMMARY_CHARS", "MAX_TITLE_CHARS", "EntryText", "clip"]

# Only this much of each field is read: a feed's megabyte "summary" costs no more than a
# long article's first pages (the rest rarely decides a signal, and never its headline).
MAX_TITLE_CHARS = 10_000
MAX_SUMMARY_CHARS = 20_000

_LAST_WORD = re.compile(r"\s\S*\Z")


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, before a word cut in two if there is a space."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if text[limit].isspace():
        return head
    partial = _LAST_WORD.search(head)
    return head[: partial.start()] if partial else head


class EntryText:
    """An item's title and summary as read, with their normal forms computed on first use."""

    __slots__ = ("_normal", "_tokens", "fields")

    def __init__(self, title: str, summary: str = ""):
        self.fields = (
            clip(scrub_surrogates(title or ""), MAX_TITLE_CHARS),
            clip(scrub_surrogates(summary or ""), MAX_SUMMARY_CHARS),
        )
        self._normal: list[str | None] = [None, None]
        self._tokens: list[list[Token] | None] = [None, None]

    @property
    def title(self) -> str:
        return self.fields[0]

    @property
    def summary(self) -> str:
        return self.fields[1]

    def normal(self, field: int) -> str:
        """The field's normal form: its tokens' words joined by single spaces."""
        normal = self._normal[field]
        if normal is None:
            tokens = self._tokens[field]
            if tokens is None:
                normal = normal_form(self.fields[field])
            else:
                normal = " ".join(t.text for t in tokens)
            self._normal[field] = normal
        return normal

    def tokens(self, field: int) -> list[Token]:
        """The field's tokens with their character spans (shared: do not modify)."""
        tokens = self._tokens[field]
        if tokens is None:
            tokens = self._tokens[field] = tokenize(self.fields[field])
        return tokens
