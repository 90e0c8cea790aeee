"""Inflected forms of query words, from lemminflect's English inflection table: pure.

A query word that is the base form (the lemma) of an English verb or noun also finds that
word's inflections: `agree` finds agreed, agrees, agreeing; `sign` signed, signing; `seal`
sealed, sealing; `strike` struck, striking; `crisis` crises. The forms come from
lemminflect's table (built from the SPECIALIST lexicon and AGID), never from suffix rules of
our own; words it does not know (names, acronyms) find only themselves.

The rules, each chosen for predictability:

- Only a lemma is inflected. A query word that is itself an inflected form finds that form
  and no other (`agreed` finds "agreed", not "agree"; `spending` finds "spending"): write
  the base form to find them all.
- Verb and noun forms only. Adjective and adverb degrees change the meaning (`close` must
  not find "closer", "closest").
- English's deverbal prepositions are not inflections here (`DEVERBAL_PREPOSITIONS`):
  `accord` finds "accorded", never "according" (to); `follow` never "following". In news
  these forms are almost always the preposition.
- Auxiliary and modal verbs are taken as written (`will` must not find "would").
- Forms are compared in normal form (`bot.matching.normalize`), as text is: `agrees` folds
  to `agree` already, so the forms that add anything are "agreed" and "agreeing".

Phrases are inflected like the plural folding treats them, word by word: "seal deal" also
finds "sealed deal", "sealing deals", "sealed deals" (each word's forms combine, fewest
changed words first, at most MAX_TERM_FORMS per term). Prefix terms (`deploy*`) are taken as
written: the prefix already reaches the forms it wants.

lemminflect's table (about 18 MB in memory) is read on the first call, once per process.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

__all__ = ["DEVERBAL_PREPOSITIONS", "MAX_TERM_FORMS", "term_forms", "word_forms"]

# The -ing and -en forms that grammars of English list as prepositions ("marginal" or
# "deverbal" prepositions: according to, following, including, given ...). As inflections of
# their verbs they would turn `accord` into "according to" and `include` into "including".
DEVERBAL_PREPOSITIONS = frozenset(
    {
        "according", "barring", "concerning", "considering", "excepting", "excluding",
        "failing", "following", "given", "including", "pending", "regarding", "respecting",
        "touching", "wanting",
    }
)  # fmt: skip
# Function words: their "inflections" are other words ("will" → "would", "can" → "canned").
_AUXILIARIES = frozenset(
    {"be", "can", "could", "do", "have", "may", "might", "must", "shall", "should", "will"}
)
_POS = ("VERB", "NOUN")
# A phrase of three verbs has 5 x 5 x 5 spellings; past this many per term (fewest changed
# words first), the rest are not added.
MAX_TERM_FORMS = 32
# Longer phrases are not inflected: each of their spellings is a long automaton pattern.
_MAX_PHRASE_WORDS = 8


@lru_cache(maxsize=65_536)
def word_forms(word: str) -> tuple[str, ...]:
    """The normal forms of `word`'s inflections, `word` (a query word in normal form) left out.

    Empty for a word that is not a verb or noun lemma lemminflect knows, and for numbers,
    acronyms with digits and words of other scripts.
    """
    if len(word) < 2 or not word.isascii() or not word.isalpha() or word in _AUXILIARIES:
        return ()
    from lemminflect import getAllInflections  # its tables load on first use

    # Imported here, not at the top: bot.matching.normalize does not import this module.
    from bot.matching.normalize import fold_word

    found: dict[str, None] = {}
    for pos in _POS:
        for spellings in getAllInflections(word, upos=pos).values():
            for spelling in spellings:
                if spelling in DEVERBAL_PREPOSITIONS or not spelling.isalpha():
                    continue
                normal = fold_word(spelling)
                if normal != word:
                    found[normal] = None
    return tuple(found)


def term_forms(words: tuple[str, ...], limit: int = MAX_TERM_FORMS) -> list[tuple[str, ...]]:
    """The other spellings of a term's words, inflected word by word, at most `limit`.

    Spellings that change one word come first, then two, and so on, so a cut keeps the
    common case: English phrases mostly inflect one word ("sealed deal", "peace talks held").
    """
    if len(words) > _MAX_PHRASE_WORDS or limit <= 0:
        return []
    options = [word_forms(word) for word in words]
    changeable = [i for i, forms in enumerate(options) if forms]
    out: list[tuple[str, ...]] = []
    for count in range(1, len(changeable) + 1):
        for positions in itertools.combinations(changeable, count):
            for choice in itertools.product(*(options[i] for i in positions)):
                spelling = list(words)
                for position, form in zip(positions, choice, strict=True):
                    spelling[position] = form
                out.append(tuple(spelling))
                if len(out) >= limit:
                    return out
    return out
