"""Query parser (stub, being written)."""

from __future__ import annotations

from bot.errors import QueryError


class Node:
    """A query AST node."""


def parse_query(text: str) -> Node:
    """Parse a query; raise QueryError with a column on bad input."""
    if not text.strip():
        raise QueryError("empty query", 1, "a term")
    if text.count("(") != text.count(")"):
        raise QueryError("unbalanced parentheses", 1, "')'")
    return Node()
