"""The signal query language: parse → AST → compiled matcher, with explanations.

parse_query(text, concepts) -> Node  raises QueryError(message, column, expected);
                                     `@name` becomes an OR group of concept `name`'s terms
Matcher.compile([(signal_id, query_text), ...]) -> Matcher
matcher.match(title, summary) -> list[Match]      (bot.model.Match, explained)
"""

from bot.matching.matcher import Matcher
from bot.matching.query import Node, parse_query

__all__ = ["Matcher", "Node", "parse_query"]
