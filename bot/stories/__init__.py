"""Same-story detection: one alert per story, however many outlets carry it. Pure: no I/O.

words.py       what an item's text yields: cleaned title, content words, named entities
signature.py   fingerprints, the event score and why two items merged (MergeReason)
index.py       StoryIndex: the window's stories, found through postings of their words
outlets.py     outlet_key: who published a copy, spelled alike by every source
common_words   the rarity table the score weighs words by (generated)
"""

from bot.stories.index import LINK_RULE, NEAR_RULE, TITLE_RULE, IndexMatch, StoryIndex
from bot.stories.outlets import outlet_key
from bot.stories.signature import (
    DEFAULT_WINDOW,
    NEAR_DUPLICATE_THRESHOLD,
    SCHEME,
    MergeReason,
    StoryFingerprint,
    clean_title,
    find_story,
    fingerprint,
    merge_reason,
    same_story,
    similarity,
)

__all__ = [
    "DEFAULT_WINDOW",
    "LINK_RULE",
    "NEAR_DUPLICATE_THRESHOLD",
    "NEAR_RULE",
    "SCHEME",
    "TITLE_RULE",
    "IndexMatch",
    "MergeReason",
    "StoryFingerprint",
    "StoryIndex",
    "clean_title",
    "find_story",
    "fingerprint",
    "merge_reason",
    "outlet_key",
    "same_story",
    "similarity",
]
