"""Decide from the evidence whether the documents answer a question, and check answers.

Abstention rests on three signals that are measured, not guessed:
- relevance: the best cosine similarity between the question and a retrieved passage or
  bullet; below `min_relevance` the question is off-topic for these documents;
- coverage: content words of the question that the documents never use, even as a close
  synonym (embedding similarity to every document word below `min_term_similarity`). Such a
  word is the question's key term when taking it out moves the question's embedding by at
  least `key_term_salience` ("interview" in "what is the interview process?", not "stuck" in
  "would I be stuck in an office?"); an uncovered key term means the documents do not say,
  unless the passage match is strong. A capitalised name the documents never mention (a city,
  a company) always means they do not say;
- instructions: generic patterns of attempts to override or extract the assistant's rules.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from assistant.text import content_words, normalize, stem

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_CITATION = re.compile(r"\[(\d+)\]")
_NUMBER_WORD = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty"
    r"|forty|fifty|sixty|hundred|thousand|million|dozen|half|double|triple)\b", re.IGNORECASE)
_HOW_MANY = re.compile(r"\bhow many ((?:[a-z-]+ ){0,1}[a-z-]+)", re.IGNORECASE)
_HOW_MUCH_IS = re.compile(r"\bhow much (?:is|are|was|were|will be) (?:the |a |an |my |your )?"
                          r"((?:[a-z-]+ ){0,2}[a-z-]+)", re.IGNORECASE)
_HOW_MUCH_PAY = re.compile(r"\bhow much (?:do|does|did|would|will|can|could)\b.{0,40}"
                           r"\b(?:pay|paid|earn|make|cost|offer)", re.IGNORECASE)
_PERCENT = re.compile(r"\bwhat (?:percentage|percent)\b|\bby how much\b", re.IGNORECASE)


@dataclass
class Decision:
    """The evidence behind answering or abstaining."""

    abstain: bool
    reason: str = ""  # off_topic | not_covered | instructions
    relevance: float = 0.0
    missing: list[str] = field(default_factory=list)  # question words the documents never use


@lru_cache(maxsize=1)
def _guard() -> list[re.Pattern[str]]:
    data = resources.files("assistant").joinpath("data/guard.toml").read_text("utf-8")
    return [re.compile(p, re.IGNORECASE | re.DOTALL) for p in tomllib.loads(data)["patterns"]]


def is_instruction_attack(question: str) -> bool:
    """True when the question tries to change or reveal the assistant's instructions."""
    return any(p.search(question) for p in _guard())


def proper_names(question: str) -> set[str]:
    """Capitalised words that are not the first word of a sentence ("London", "Amazon")."""
    names = set()
    for sentence in re.split(r"[.?!]\s+", normalize(question)):
        tokens = re.findall(r"[A-Za-z][A-Za-z'\-]*", sentence)
        for token in tokens[1:]:
            if token[0].isupper() and not token.isupper() and token.lower() != "i":
                names.add(token.lower())
    return names


@dataclass
class Term:
    """A question word the documents never use, and how much it matters."""

    word: str
    synonym: float  # best cosine similarity to any word the documents use
    salience: float  # how much the question's meaning moves when the word is taken out
    name: bool  # a capitalised name (city, company) the documents never mention


class CoverageChecker:
    """Which question words the documents use, directly, by stem or by a close synonym."""

    def __init__(self, terms: list[str], term_vectors: Any, corpus_words: set[str]):
        self.terms = terms
        self.term_vectors = term_vectors
        self.words = corpus_words
        self.stems = {stem(w) for w in corpus_words}

    def uncovered(self, text: str) -> list[str]:
        """Content words of `text` that neither appear in the documents nor share a stem."""
        out: list[str] = []
        for word in content_words(text):
            if word in self.words or stem(word) in self.stems or word.replace(".", "").isdigit():
                continue
            if word not in out:
                out.append(word)
        return out

    def measure(self, text: str, words: list[str], embed_words: Any, embed_texts: Any,
                text_vector: Any, names: set[str], min_similarity: float,
                need_salience: bool) -> list[Term]:
        """Synonym similarity of each uncovered word and, for words without a synonym, salience.

        Salience costs one embedding per word, so it is measured only when it can change the
        decision (`need_salience`).
        """
        if not words:
            return []
        word_vecs = _normalise(embed_words(words))
        synonym = (word_vecs @ self.term_vectors.T).max(axis=1) if len(self.terms) else \
            np.zeros(len(words))
        salience = np.zeros(len(words))
        key = [i for i, s in enumerate(synonym) if s < min_similarity and words[i] not in names]
        if need_salience and key:
            reduced = [re.sub(rf"(?i)\b{re.escape(words[i])}\b", " ", text) for i in key]
            full = _normalise([text_vector])[0]
            salience[key] = 1.0 - _normalise(embed_texts(reduced)) @ full
        return [Term(w, round(float(a), 4), round(float(b), 4), w in names)
                for w, a, b in zip(words, synonym, salience, strict=True)]


def _normalise(vectors: Any) -> Any:
    array = np.asarray(vectors, dtype=np.float32)
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-9)


def decide(question: str, relevance: float, terms: list[Term], min_relevance: float,
           min_term_similarity: float, key_term_salience: float,
           confident_relevance: float) -> Decision:
    """Answer or abstain, from the measured evidence (see the module docstring)."""
    missing = [t.word for t in terms if t.name or t.synonym < min_term_similarity]
    if is_instruction_attack(question):
        return Decision(True, "instructions", relevance, missing)
    names = [t.word for t in terms if t.name]
    if names:
        return Decision(True, "not_covered", relevance, names)
    if relevance < min_relevance:  # no passage matches well; which word is to blame is unknown
        return Decision(True, "off_topic" if relevance < min_relevance - 0.1 else "not_covered",
                        relevance, [])
    key = [t.word for t in terms if t.synonym < min_term_similarity
           and t.salience >= key_term_salience]
    if key and relevance < confident_relevance:
        return Decision(True, "not_covered", relevance, key)
    return Decision(False, "", relevance, missing)


# ---------------------------------------------------------------------------------------------
# checks on a finished answer (used by the answerer's self-check and by the evaluation suite)


def figure_missing(question: str, answer: str) -> bool:
    """True when the question asks for a figure and no answer line gives one for it.

    "How many vacation days" needs a line with a number *and* "days"; "how much is the
    bonus" a number on a line about the bonus; "how much does it pay" an amount in $;
    "what percentage" a %. Answering such a question with other numbers answers another one.
    """
    lines = [line for line in answer.splitlines()
             if _NUMBER.search(_CITATION.sub("", line)) or _NUMBER_WORD.search(line)]
    if _PERCENT.search(question):
        return not any("%" in line for line in lines)
    if _HOW_MUCH_PAY.search(question):
        return not any("$" in line for line in lines)
    match = _HOW_MANY.search(question) or _HOW_MUCH_IS.search(question)
    if not match:
        return False
    wanted = {stem(w) for w in content_words(match.group(1))}
    if not wanted:
        return False
    return not any(wanted & {stem(w) for w in content_words(line)} for line in lines)


def numbers(text: str) -> list[str]:
    """Numbers, amounts and percentages in `text`, normalised ("$130,819" -> "130819")."""
    return [m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)]


def ungrounded_numbers(answer: str, passages: list[str]) -> list[str]:
    """Numbers stated in the answer (citation markers aside) that no cited passage contains."""
    body = _CITATION.sub(" ", answer)
    known = {n for passage in passages for n in numbers(passage)}
    return sorted({n for n in numbers(body) if n not in known})


def citation_markers(answer: str) -> list[int]:
    """The [n] markers used in an answer."""
    return [int(n) for n in _CITATION.findall(answer)]
