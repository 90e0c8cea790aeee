"""Concept lists written out as query text, for whoever reads queries as text: pure.

The matcher gets concepts through the parser (`parse_query(text, concepts)`: each `@name`
becomes an OR group in the AST). News-API translation reads query text, so a query that
names concepts is handed over with each `@name` written out as `("term" OR "term" …)`,
which parses to the same OR group.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.errors import QueryError
from bot.matching.query import Concepts, concept_entries, concept_references, concept_term

__all__ = ["expand_concepts", "unused_concepts"]


def _quoted(entry: str) -> str:
    """A concept entry as a quoted phrase of the query language (its meaning as an entry)."""
    body = entry.strip()
    if len(body) >= 2 and body[0] == body[-1] == '"':
        body = body[1:-1].strip()
    return f'"{body}"'


def expand_concepts(text: str, concepts: Concepts) -> str:
    """`text` with each `@name` replaced by its concept's terms as an OR group.

    Text that names no concept comes back as it is. QueryError for an unknown or empty
    concept, or an entry that is not a word or phrase (as `parse_query` would say).
    """
    if "@" not in text:
        return text
    references = concept_references(text)
    if not references:
        return text
    parts: list[str] = []
    end = 0
    for name, column in references:
        entries = concept_entries(concepts, name, column)
        for entry in entries:
            concept_term(entry, column)  # a bad entry fails here, not in a later parse
        start = column - 1
        parts += [text[end:start], "(" + " OR ".join(_quoted(e) for e in entries) + ")"]
        end = start + 1 + len(name)
    parts.append(text[end:])
    return "".join(parts)


def unused_concepts(concepts: Concepts, queries: Iterable[str]) -> list[str]:
    """The names of `concepts` that none of `queries` refers to, in their order."""
    used: set[str] = set()
    for text in queries:
        try:
            used.update(name for name, _ in concept_references(text))
        except QueryError:
            continue  # a query that does not lex is reported on its own
    return [name for name in concepts if name not in used]
