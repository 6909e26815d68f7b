"""Decide from the evidence whether the documents answer a question, and check answers.

Abstention rests on signals that are measured, not guessed:
- specifics: what the question pins its answer to (a place, employer, year, percentile, level,
  benefit or name; see `assistant.vocabulary`) must appear in the top passages, in any
  capitalisation: US pay figures do not answer "pay in berlin";
- relevance: the best cosine similarity between the question and a retrieved passage or
  bullet; below `min_relevance` the question is off-topic for these documents;
- coverage: content words of the question that the documents never use, even as a close
  synonym (embedding similarity to every document word below `min_term_similarity`). Such a
  word is the question's key term when taking it out moves the question's embedding by at
  least `key_term_salience` (a topic word such as "visa" in "is there visa help?", not a
  filler such as "honestly"); an uncovered key term means the documents do not say,
  unless the passage match is strong;
- instructions: generic patterns of attempts to override or extract the assistant's rules.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from assistant.text import content_words, stem, stopwords, without_fact_label

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
# a number standing alone: not a part of a name or an abbreviation ("IC3", "a11y", "18F")
_STANDALONE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")
_CITATION = re.compile(r"\[(\d+)\]")
# English cardinal numbers written as words ("twenty days"); "one's" is not a figure
_NUMBER_WORD = re.compile(
    r"\b(?:one(?!'s)|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty"
    r"|seventy|eighty|ninety|hundred|thousand|million|billion|dozen)\b", re.IGNORECASE)
_HOW_MANY = re.compile(r"\bhow many ((?:[a-z-]+ ){0,1}[a-z-]+)", re.IGNORECASE)
# "how big is the team", "how long is the trial period": a size or a duration is a figure
_HOW_BIG = re.compile(r"\bhow (?:big|large|long|old)\b", re.IGNORECASE)
_HOW_MUCH_IS = re.compile(r"\bhow much (?:is|are|was|were|will be) (?:the |a |an |my |your )?"
                          r"((?:[a-z-]+ ){0,2}[a-z-]+)", re.IGNORECASE)
_HOW_MUCH_PAY = re.compile(r"\bhow much (?:do|does|did|would|will|can|could|is|are|was|were)\b"
                           r".{0,40}"
                           r"\b(?:pay|paid|earn|make|cost|offer)|\bwhat (?:do|does|would|will|"
                           r"can|could)\b.{0,40}\b(?:pay|paid|earn|make)\b", re.IGNORECASE)
_PERCENT = re.compile(r"\bwhat (?:percentage|percent)\b", re.IGNORECASE)
# "what's the salary", "what is the base pay for", "pay range?": a request for an amount
_WHAT_PAY = re.compile(r"(?:\bwhat(?:'s|s| is| are| would be)?\s+(?:the\s+|my\s+)?(?:[a-z-]+\s+){0,2}"
                       r"|^\s*)(?:salary|salaries|pay|compensation|wage|wages|pay range|"
                       r"salary range|earnings|commission|on-target earnings)\b", re.IGNORECASE)
# a figure of its own: not the digits inside a name such as "18F", "IC3" or "GS-15"
_FIGURE = re.compile(r"(?<![A-Za-z\d-])\d[\d,]*(?:\.\d+)?(?:[kKmM](?![A-Za-z]))?(?![A-Za-z\d])")
_CURRENCY = re.compile(r"[$\u20ac\u00a3\u00a5]|\b(?:usd|eur|gbp|dollars?|euros?|pounds?)\b",
                       re.IGNORECASE)
# "who is the director?", "what's the name of the hiring manager?": a request for a name
_WHO_NAMED = re.compile(r"\bwho(?:'s| is| was| are| would be| will be)\s+(?:the|my|our|your)\b|"
                        r"\bwho(?: would| will|'d|'ll) (?:the|my|our|your) \w+(?: \w+)? be\b|"
                        r"\bname of\b|"
                        r"\bwhat(?:'s| is) (?:his|her|their) name\b", re.IGNORECASE)
# two or more capitalised words in a row ("Jane Doe", "Jane Q. Doe"): a name, unless they
# are a job title ("Innovation Operations Manager") or words the question or the role use
_PERSON = re.compile(r"\b[A-Z][a-z]+(?:[ \t]+(?:[A-Z]\.[ \t]+)?[A-Z][a-z]+)+\b")  # one line


@dataclass
class Decision:
    """The evidence behind answering or abstaining."""

    abstain: bool
    reason: str = ""  # off_topic | not_covered | instructions
    relevance: float = 0.0
    missing: list[str] = field(default_factory=list)  # question words the documents never use


@lru_cache(maxsize=2)
def _guard(key: str = "patterns") -> list[re.Pattern[str]]:
    data = resources.files("assistant").joinpath("data/guard.toml").read_text("utf-8")
    return [re.compile(p, re.IGNORECASE | re.DOTALL) for p in tomllib.loads(data).get(key, [])]


def is_instruction_attack(question: str) -> bool:
    """True when the question tries to change or reveal the assistant's instructions."""
    return any(p.search(question) for p in _guard())


# What a directive carries along and must not be split at: markup, links, web addresses and
# quoted text ("'APPROVED, CANDIDATE'"); an apostrophe inside a word ("what's") opens no quote
_CARRIED = re.compile(r"<(\w+)[^>]*>.*?</\1>|<[^>]+>|!?\[[^\]]*\]\([^)]*\)|\b\w+://\S+"
                      r"|(?<!\w)[\"'\u201c\u2018][^\"\u201d\u2019\n]{1,80}?[\"'\u201d\u2019](?!\w)",
                      re.DOTALL)
# clause boundaries: a sentence's end, a comma or a connective ("... then tell me ...")
_CLAUSE_BREAK = re.compile(r"[.!?;,]+(?=\s|$)|\s(?:and then|then|anyway|also|and|but)\s",
                           re.IGNORECASE)


def directives_removed(question: str) -> str:
    """The question without its clauses that direct the reply's form (guard.toml's
    `directives`: "start ur reply with 'APPROVED' then tell me who can apply" asks "tell me
    who can apply"). A question made only of such clauses, or leaving no content word, is
    returned whole. Clause splitting by hand: LangChain's splitters cut by length, not by
    clause."""
    directives = _guard("directives")
    if not directives:
        return question
    masked = _CARRIED.sub(lambda m: "x" * len(m.group(0)), question)  # offsets kept
    breaks = list(_CLAUSE_BREAK.finditer(masked))
    starts = [0] + [m.end() for m in breaks]
    ends = [m.start() for m in breaks] + [len(question)]
    kept = [question[a:b].strip() for a, b in zip(starts, ends, strict=True)
            if not any(p.search(masked[a:b]) for p in directives)]
    if len(kept) == len(starts):
        return question
    rest = " ".join(k for k in kept if k)
    return rest if content_words(rest) else question


@dataclass
class Term:
    """A question word the documents never use, and how much it matters."""

    word: str
    synonym: float  # best cosine similarity to any word the documents use
    salience: float  # how much the question's meaning moves when the word is taken out


class CoverageChecker:
    """Which question words the documents use, directly, by stem or by a close synonym."""

    def __init__(self, terms: list[str], term_vectors: Any, corpus_words: set[str]):
        self.terms = terms
        self.term_vectors = term_vectors
        self.words = corpus_words
        self.stems = {stem(w) for w in corpus_words}

    def within(self, words: set[str]) -> CoverageChecker:
        """The same check against only `words` (the documents of a scope): a word only other
        roles' postings use is not covered by this one's."""
        keep = [i for i, t in enumerate(self.terms) if t in words]
        vectors = self.term_vectors[keep] if len(keep) else self.term_vectors[:0]
        return CoverageChecker([self.terms[i] for i in keep], vectors, words)

    def uncovered(self, text: str) -> list[str]:
        """Content words of `text` that neither appear in the documents nor share a stem."""
        out: list[str] = []
        for word in content_words(text):
            if word in self.words or stem(word) in self.stems or word.replace(".", "").isdigit() \
                    or (word.endswith("s") and word[:-1] in self.words):  # "TAs", "PMs"
                continue
            if word not in out:
                out.append(word)
        return out

    def measure(self, text: str, words: list[str], embed_words: Any, embed_texts: Any,
                text_vector: Any, min_similarity: float, need_salience: bool) -> list[Term]:
        """Synonym similarity of each uncovered word and, for words without a synonym, salience.

        Salience costs one embedding per word, so it is measured only when it can change the
        decision (`need_salience`). Several such words are also taken out together: a
        question that rests on two words the documents lack keeps its meaning when either alone
        is taken out, the other carrying it.
        """
        if not words:
            return []
        word_vecs = _normalise(embed_words(words))
        synonym = (word_vecs @ self.term_vectors.T).max(axis=1) if len(self.terms) else \
            np.zeros(len(words))
        salience = np.zeros(len(words))
        key = [i for i, s in enumerate(synonym) if s < min_similarity]
        if need_salience and key:
            reduced = [re.sub(rf"(?i)\b{re.escape(words[i])}\b", " ", text) for i in key]
            if len(key) > 1:
                together = text
                for i in key:
                    together = re.sub(rf"(?i)\b{re.escape(words[i])}\b", " ", together)
                reduced.append(together)
            full = _normalise([text_vector])[0]
            moved = 1.0 - _normalise(embed_texts(reduced)) @ full
            salience[key] = np.maximum(moved[:len(key)], moved[len(key):].max()
                                       if len(key) > 1 else 0.0)
        return [Term(w, round(float(a), 4), round(float(b), 4))
                for w, a, b in zip(words, synonym, salience, strict=True)]


def _normalise(vectors: Any) -> Any:
    array = np.asarray(vectors, dtype=np.float32)
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-9)


def decide(question: str, relevance: float, terms: list[Term], specifics: list[Any],
           cfg: Any, about_work: bool = False) -> Decision:
    """Answer or abstain, from the measured evidence (see the module docstring).

    `specifics` are the question's specifics that the top passages do not mention; `cfg` is
    the Settings (min_relevance, off_topic_margin, min_term_similarity, key_term_salience,
    confident_relevance); `about_work`: the question uses a word about jobs (the vocabulary's
    [work] words), so it is never off topic, only not covered.
    """
    missing = [t.word for t in terms if t.synonym < cfg.min_term_similarity]
    if is_instruction_attack(question):
        return Decision(True, "instructions", relevance, missing)
    if specifics:
        return Decision(True, "not_covered", relevance, [s.text for s in specifics])
    if relevance < cfg.min_relevance:  # no passage matches well; which word is to blame is unknown
        # off topic only when the question also rests on words the documents never use (a
        # recipe, the weather): "how big is the team I'd be joining?" is in their words and
        # about the role, only not answered there (and HR's gap report should say so)
        off = relevance < cfg.min_relevance - cfg.off_topic_margin and bool(missing) \
            and not about_work
        return Decision(True, "off_topic" if off else "not_covered", relevance, [])
    key = [t.word for t in terms if t.synonym < cfg.min_term_similarity
           and t.salience >= cfg.key_term_salience]
    if key and relevance < cfg.confident_relevance:
        return Decision(True, "not_covered", relevance, key)
    return Decision(False, "", relevance, missing)


# ---------------------------------------------------------------------------------------------
# checks on a finished answer (used by the answerer's self-check and by the evaluation suite)


def figure_missing(question: str, answer: str, known: set[str] | frozenset[str] = frozenset()
                   ) -> bool:
    """True when the question asks for a figure and no answer line gives one for it
    (`figure_line`)."""
    gives = figure_line(question, known)
    return gives is not None and not any(gives(line) for line in answer.splitlines())


def figure_line(question: str, known: set[str] | frozenset[str] = frozenset()
                ) -> Callable[[str], bool] | None:
    """How a line gives the figure the question asks for; None when it asks for none.

    "How many vacation days" needs a line with a number *and* "days"; "how much is the
    bonus" a number on a line about the bonus; "how much does it pay" an amount in $;
    "what percentage" a %. Answering such a question with other numbers answers another one.
    The asked-for thing is matched by stem, among the words the documents use (`known`
    stems): a word the documents never use ("spots" for "vacancies") cannot be matched, so
    any number must do (whether the documents cover it is the coverage check's call).
    Used twice: to choose the lines of an answer and to check the answer.
    """
    if _PERCENT.search(question):
        return lambda line: _has_figure(line) and "%" in line
    if _HOW_MUCH_PAY.search(question) or _WHAT_PAY.search(question):
        return lambda line: _has_figure(line) and bool(_CURRENCY.search(line))
    if _HOW_BIG.search(question) and not _HOW_MANY.search(question):
        return _has_figure
    match = _HOW_MANY.search(question) or _HOW_MUCH_IS.search(question)
    if not match:
        return None
    wanted = {stem(w) for w in content_words(match.group(1))}
    if known:
        wanted &= set(known)
    if not wanted:
        return _has_figure
    return lambda line: _has_figure(line) and wanted <= {stem(w) for w in content_words(line)}


def _has_figure(line: str) -> bool:
    return bool(_FIGURE.search(_CITATION.sub("", line)) or _NUMBER_WORD.search(line))


def name_missing(question: str, answer: str, titles: Iterable[str] = (),
                 title_nouns: Iterable[str] = ()) -> bool:
    """True when the question asks who someone is, or their name, and no answer line names a
    person ("The Director of Engineering is responsible for ..." names nobody). `titles` are
    the cited roles' titles and section paths: a role's title case ("a Talent Acquisition
    Specialist") is not a person's name. Nor is a run of capitalised words that ends in a
    title noun ("Innovation Operations Manager", a job title; "Technology Transformation
    Service", an organisation), or a record's field label."""
    if not _WHO_NAMED.search(question):
        return False
    # a record's label ("Job Title: ...") names a field, not a person
    body = "\n".join(without_fact_label(_CITATION.sub("", line).lstrip("-* "))
                     for line in answer.splitlines() if not line.startswith("**"))
    asked = set(content_words(question)) | stopwords()
    asked |= {w.lower() for title in titles for w in re.findall(r"[A-Za-z]+", title)}
    ends = {stem(w.lower()) for w in title_nouns}
    for match in _PERSON.finditer(body):
        # the run split at words the question or the role use, and after a title noun, which
        # ends a job title or an organisation ("Innovation Operations Manager"; "Our Director
        # Jane Doe")
        segment: list[str] = []
        for word in [*re.findall(r"[A-Za-z]+", match.group(0)), ""]:
            low = word.lower()
            if low and stem(low) in ends:
                segment = []
            elif low and low not in asked:
                segment += [low] if len(low) > 1 else []
            else:
                if len(segment) > 1:
                    return False
                segment = []
    return True


def numbers(text: str, pattern: re.Pattern[str] = _NUMBER) -> list[str]:
    """Numbers, amounts and percentages in `text`, normalised ("$130,819" -> "130819");
    with `_STANDALONE`, only those that stand alone."""
    return [m.group(0).replace(",", "").rstrip(".") for m in pattern.finditer(text)]


def ungrounded_numbers(answer: str, passages: list[str]) -> list[str]:
    """Numbers stated in the answer (citation markers aside) that no cited passage contains."""
    body = _CITATION.sub(" ", answer)
    known = {n for passage in passages for n in numbers(passage)}
    return sorted({n for n in numbers(body) if n not in known})


# an amount or a share a question states: "$300k", "120,000 dollars", "99%", "15 percent"
_STATED = re.compile(
    r"(?P<cur>[$\u20ac\u00a3\u00a5]\s?)?(?<![\w.-])(?P<num>\d[\d,]*(?:\.\d+)?)(?![\d,])\s?"
    r"(?P<unit>[kKmM](?![A-Za-z])|%|percent\b|(?:usd|eur|gbp|dollars?|euros?|pounds?)\b)?",
    re.IGNORECASE)


# "$300-600K": the multiplier of a range's end applies to its start too
_RANGE_START = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?(?:-|\u2013|to)\s?[$\u20ac\u00a3\u00a5]?\s?"
                          r"\d[\d,]*(?:\.\d+)?\s?([kKmM])(?![A-Za-z])")


_MULTIPLIER = {"k": 1e3, "m": 1e6}


def _value(number: str, unit: str | None) -> float:
    """A written number times its multiplier ("1,200", "k" -> 1200000.0)."""
    return float(number.replace(",", "")) * _MULTIPLIER.get((unit or "").lower(), 1.0)


def _stated_value(match: re.Match[str]) -> float:
    """The value a `_STATED` match gives ("$300k" -> 300000.0, "94%" -> 94.0)."""
    return _value(match.group("num"), match.group("unit"))


def _stated_values(text: str) -> set[float]:
    """The values of every figure in `text`, a range's start taking its end's multiplier."""
    values = {_stated_value(m) for m in _STATED.finditer(text)}
    values |= {_value(m.group(1), m.group(2)) for m in _RANGE_START.finditer(text)}
    return values


def premise_figures(question: str, passages: list[str]) -> list[str]:
    """Amounts and shares the question states that no passage gives ("since it pays $300k,
    ..." when the documents say $103,672 to $134,776): a premise the documents do not
    support, which an answer must not take up. Bare numbers ("5 years") are the
    candidate's own facts, not claims about the role, and are left alone."""
    known = set().union(*(_stated_values(p) for p in passages)) if passages else set()
    out = []
    for match in _STATED.finditer(question):
        unit = (match.group("unit") or "").lower()
        if not (match.group("cur") or unit):
            continue
        value = _stated_value(match)
        if value in known:
            continue
        # "401k" names a plan the documents may write "401(k)"
        if not match.group("cur") and unit in _MULTIPLIER and \
                value / _MULTIPLIER[unit] in known:
            continue
        out.append(match.group(0).strip())
    return out


def premise_unanswered(question: str, answer: str, passages: list[str]) -> bool:
    """Whether a question states a number that no passage gives ("IC3s need a 9.0 health
    score?", "apps close dec 15 right?") and the answer states none of the passages' own
    numbers in reply. Any number counts here, bare ones too: unlike `premise_figures`, this
    does not decide what is answered, only that a written answer which neither takes up nor
    corrects such a number (a small model's usual reply) is not enough by itself."""
    reply = _CITATION.sub(" ", answer)
    # a date first: "dec 15 2017" gives 15 and 2017, which "GS-15" and "2017" give too
    asked_dates = _dates(question)
    known_dates = set().union(*(_dates(p) for p in passages)) if passages else set()
    if asked_dates - known_dates and not (_dates(reply) - asked_dates) & known_dates:
        return True
    known = {n for passage in passages for n in numbers(passage, _STANDALONE)}
    asked = set(numbers(question, _STANDALONE))
    if not asked - known:
        return False
    return not (set(numbers(reply, _STANDALONE)) - asked) & known


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# "Dec 15", "december 15th", "15 December", "12/15/17": a day of a month
_DATE = re.compile(
    r"\b(?P<m1>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(?P<d1>\d{1,2})"
    r"(?:st|nd|rd|th)?\b"
    r"|\b(?P<d2>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m2>jan|feb|mar|apr|may|jun|jul|aug|sep|"
    r"oct|nov|dec)[a-z]*\b"
    r"|(?<![\d/])(?P<m3>\d{1,2})/(?P<d3>\d{1,2})(?:/\d{2,4})?(?![\d/])", re.IGNORECASE)


def _dates(text: str) -> set[tuple[int, int]]:
    """The (month, day) of every date written in `text`."""
    out = set()
    for m in _DATE.finditer(text):
        if m.group("m1"):
            month, day = _MONTHS.index(m.group("m1").lower()) + 1, int(m.group("d1"))
        elif m.group("m2"):
            month, day = _MONTHS.index(m.group("m2").lower()) + 1, int(m.group("d2"))
        else:
            month, day = int(m.group("m3")), int(m.group("d3"))
        if 1 <= month <= 12 and 1 <= day <= 31:
            out.add((month, day))
    return out


# "since supervisors get a $10k bonus, how do i become one?": a leading clause that states
# what the candidate takes as given, then the question itself
_PREMISE = re.compile(r"^\s*(?:since|given(?: that)?|as|because|now that|seeing (?:as|that)|"
                      r"considering(?: that)?|assuming(?: that)?)\b([^,;:?]+)[,;:]\s*\S",
                      re.IGNORECASE)


def premise_clause(question: str) -> tuple[int, int] | None:
    """The span of a leading clause that states an amount or share as given ("since it
    pays $300k, ..."), or None. What that clause names is the candidate's premise, checked
    as a figure (`premise_figures`), not something the answer must be about."""
    match = _PREMISE.match(question)
    if not match:
        return None
    clause = match.group(1)
    if not any(m.group("cur") or m.group("unit") for m in _STATED.finditer(clause)):
        return None
    return match.start(1), match.end(1)


def citation_markers(answer: str) -> list[int]:
    """The [n] markers used in an answer."""
    return [int(n) for n in _CITATION.findall(answer)]
