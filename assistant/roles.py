"""The roles (documents) of a corpus: what a scope names, which role a question names.

A scope limits retrieval to some documents: `ask(..., scope="backend-engineer.md")` on a
posting's widget, or the role a question names when it names one ("what does a product
designer do at IC3?"). Documents are named by their file (with or without the suffix) or their
title, in any case.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.settings import Settings
from assistant.text import content_words, match_key, normalize, stem, stopwords
from assistant.text import words as words_of
from assistant.types import InvalidQuestion

# the default of Settings.role_acronym_weight (a Catalog made without settings, as in tests)
_ACRONYM_WEIGHT = float(Settings.model_fields["role_acronym_weight"].default)

# Words that say how senior a role is, not which role it is.
_LEVEL_WORDS = frozenset(stem(w) for w in (
    "senior junior staff principal lead associate intermediate entry level mid head chief "
    "distinguished fellow intern sr jr ii iii iv").split())


def _forms(word: str) -> set[str]:
    """The forms a word may name a role by: its stem, itself, and for an acronym's plural
    ("tas" for a TA framework, "pms") the singular: the stemmer leaves words this short
    alone."""
    low = word.lower()
    return {stem(low), low} | ({low[:-1]} if len(low) <= 4 and low.endswith("s") else set())


@dataclass
class Role:
    """One document of the corpus, as candidates see it."""

    source: str
    title: str
    metadata: dict[str, str] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)  # its top-level sections, in order
    sizes: dict[str, int] = field(default_factory=dict)  # units per top-level section
    sections: list[str] = field(default_factory=list)  # every section path, in order
    opening: str = ""  # the id of its first chunk (what "which roles are open?" cites)

    @functools.cached_property
    def stems(self) -> set[str]:
        """Stems of the words that name the role, from its title and its file name (HR names
        files after roles: "18f-product-manager.md"); levels and function words left out.
        Worked out once: every question compares them with each role's (1,000 roles: 30 ms
        a question when they were worked out each time)."""
        return self._name_stems - _LEVEL_WORDS

    @functools.cached_property
    def level_stems(self) -> set[str]:
        """The level words of its name ("lead" of "Technical Lead"): they name the role only
        next to its other words, as part of its name."""
        return self._name_stems & _LEVEL_WORDS

    @functools.cached_property
    def _name_stems(self) -> set[str]:
        return {stem(w) for w in content_words(self._name)}

    def children(self, section: str) -> list[str]:
        """The paths of `section`'s own sub-sections, in document order."""
        parts = section.split(" > ")
        return [s for s in self.sections if s.split(" > ")[:-1] == parts]

    @functools.cached_property
    def acronyms(self) -> set[str]:
        """The initials of each run of two or three words of the title or the file name
        ("pm" for "18F Product Manager"): candidates name a role so ("the pm job"), and the
        abbreviation may not be read as written out, when a document uses it itself."""
        out: set[str] = set()
        for part in (self.title, self._name.removeprefix(self.title)):
            runs: list[list[str]] = [[]]
            for word in words_of(part):
                if word.isalpha() and word not in stopwords():
                    runs[-1].append(word)
                else:
                    runs.append([])
            for run in runs:
                for size in (2, 3):
                    out |= {"".join(w[0] for w in run[i:i + size])
                            for i in range(len(run) - size + 1)}
        return {a for a in out if a not in stopwords()}

    def named_by(self, word: str) -> bool:
        """Whether one word of a question names this role: a word of its name (by stem) or
        its initials, in the singular or the plural ("pm", "pms", "AEs")."""
        forms = _forms(word)
        return bool(forms & self.stems or forms & self.acronyms)

    @property
    def _name(self) -> str:
        return f"{self.title} {Path(self.source).stem.replace('-', ' ').replace('_', ' ')}"


class Catalog:
    """Every role of the index in service."""

    def __init__(self, roles: list[Role], acronym_weight: float = _ACRONYM_WEIGHT):
        self.roles = roles
        self.by_source = {r.source: r for r in roles}
        counts: dict[str, int] = {}
        initials: dict[str, int] = {}
        for role in roles:
            for s in role.stems:
                counts[s] = counts.get(s, 0) + 1
            for a in role.acronyms:
                initials[a] = initials.get(a, 0) + 1
        n = max(len(roles), 1)
        self.unique = math.log(n) if n > 1 else 1.0  # the weight of a word only one role has
        # how much a naming word tells roles apart: 0 for a word every role has
        self.idf = {s: math.log(n / c) for s, c in counts.items()}
        self.acronym_idf = {a: math.log(n / c) for a, c in initials.items()}
        self.acronym_weight = acronym_weight

    @classmethod
    def from_snapshot(cls, chunks: dict[str, dict[str, Any]], order: list[str],
                      documents: dict[str, dict[str, Any]],
                      acronym_weight: float = _ACRONYM_WEIGHT
                      ) -> Catalog:
        roles: dict[str, Role] = {}
        for chunk_id in order:
            meta = chunks[chunk_id]
            source = meta["source"]
            info = documents.get(source, {})
            role = roles.get(source)
            if role is None:
                title = meta.get("title") or info.get("title") or Path(source).stem
                role = roles[source] = Role(source, title, dict(info.get("metadata") or {}),
                                            opening=chunk_id)
            if meta.get("section") and meta["section"] not in role.sections:
                role.sections.append(meta["section"])
            top = meta.get("top_section") or role.title
            if top != role.title and top not in role.topics:
                role.topics.append(top)
            if top != role.title:
                role.sizes[top] = role.sizes.get(top, 0) + len(meta.get("text", "").splitlines())
        return cls(list(roles.values()), acronym_weight)

    def neighbours(self, source: str, section: str, limit: int,
                   exclude: Sequence[str] = ()) -> list[str]:
        """Sections next to `section` in its document, to suggest as follow-ups: its
        siblings (the same parent), those after it first; then, if it has too few, its
        parent's siblings. Sections in `exclude` (already shown) are left out."""
        role = self.by_source.get(source)
        if role is None or limit <= 0:
            return []
        out: list[str] = []
        path = section.split(" > ")
        while len(path) > 1 and len(out) < limit:
            parent = path[:-1]
            siblings = role.children(" > ".join(parent))
            at = siblings.index(" > ".join(path)) if " > ".join(path) in siblings else -1
            ordered = siblings[at + 1:] + list(reversed(siblings[:max(at, 0)]))
            out += [s for s in ordered if s not in exclude and s not in out]
            path = parent
        return out[:limit]

    # ------------------------------------------------------------------------------------
    def resolve(self, scope: str | Sequence[str] | None, message: str) -> frozenset[str] | None:
        """The sources a scope names (None: every document). Unknown names, or anything but
        a name or a list of names: InvalidQuestion, naming what was given."""
        several = (list, tuple, set, frozenset)
        if scope is None or (isinstance(scope, (str, *several)) and not scope):
            return None
        names = list(scope) if isinstance(scope, several) else [scope]
        found: set[str] = set()
        unknown: list[str] = []
        for name in names:
            if isinstance(name, str) and not name.strip():
                continue
            role = self.find(name) if isinstance(name, str) else None
            if role is None:  # shown to the user: printable, short
                unknown.append(normalize(name if isinstance(name, str) else repr(name))[:80])
            else:
                found.add(role.source)
        if unknown:
            known = ", ".join(f'"{r.title}" ({r.source})' for r in self.roles[:20])
            raise InvalidQuestion(message.format(scope=", ".join(unknown), known=known))
        return frozenset(found) or None

    def find(self, name: str) -> Role | None:
        """The role a file name, file stem or title refers to."""
        key = match_key(name)
        for role in self.roles:
            if name == role.source or key in (match_key(role.source), match_key(
                    Path(role.source).stem), match_key(role.title)):
                return role
        return None

    def named(self, question: str, min_weight: float) -> list[str]:
        """Sources whose role the question names ("is the sourcegraph support job remote?").

        Each role scores the weight of its naming words that the question holds, a word
        weighing more the fewer roles share it. The best-scoring roles are named when they
        score at least `min_weight` times the weight of a word only one role has, so one
        generic word ("engineer", shared by many) names none. Several roles tying at the top
        are all named.
        """
        if len(self.roles) < 2:
            return []
        scores = self.naming_weights(question)
        best = max(scores.values(), default=0.0)
        if best <= 0 or best < min_weight * self.unique:
            return []
        return sorted(s for s, v in scores.items() if v >= best - 1e-9)

    def naming_weights(self, question: str) -> dict[str, float]:
        """Each role's weight of the naming words the question holds (see `named`)."""
        forms = [_forms(w) for w in content_words(question)]
        asked = set().union(*forms) if forms else set()
        out: dict[str, float] = {}
        for role in self.roles:
            score = sum(self.idf.get(s, 0.0) for s in role.stems & asked)
            # a word that is the initials of the name ("pm") counts once, and less than a
            # word of the name: "tas" names the "TA Career Development Framework" before the
            # "Talent Acquisition Specialist"
            for form in forms:
                hits = form & role.acronyms if not form & role.stems else set()
                if hits:
                    score += self.acronym_weight * max(self.acronym_idf[a] for a in hits)
            out[role.source] = score
        return out

    def title_stems(self, sources: frozenset[str] | None) -> set[str]:
        """Stems of the titles of the roles in scope (they rank nothing within a role); level
        words stay: "senior" in "how long to reach senior?" still asks about a level."""
        if not sources:
            return set()
        out: set[str] = set()
        for source in sources:
            role = self.by_source.get(source)
            if role is not None:
                out |= {stem(w) for w in content_words(role.title)} - _LEVEL_WORDS
        return out

    def topics(self, scope: frozenset[str] | None, limit: int) -> list[str]:
        """What the documents in scope are about, for a refusal: at most `limit` names.

        One role: its largest top-level sections, in document order. Several: role titles.
        """
        roles = [self.by_source[s] for s in sorted(scope)] if scope else self.roles
        if len(roles) == 1:
            role = roles[0]
            keep = sorted(role.topics, key=lambda t: -role.sizes.get(t, 0))[:limit]
            return [t for t in role.topics if t in keep] or [role.title]
        return [r.title for r in roles][:limit]

    def titles(self, scope: frozenset[str] | None) -> list[str]:
        roles = [self.by_source[s] for s in sorted(scope)] if scope else self.roles
        return [r.title for r in roles]
