"""The grounding guard: every generated sentence is checked against the passages it cites.

A sentence survives only when
- every number, amount, percentage and number word in it occurs in a passage it cites,
- every proper name in it (a capitalised word that does not open the sentence, an acronym,
  a word with digits such as "IC3") occurs in a passage it cites,
- every address in it (a web address, an e-mail address, a link's target) occurs in a passage
  it cites, character for character (a model cannot send the candidate somewhere the
  documents do not: an instruction to add a link or an image with data in it fails here), and
- the passages support it: at least `guard_min_overlap` of its content words occur in them,
  or its embedding is at least `guard_min_similarity` similar to one of their units.

Before any of that, a sentence that repeats the assistant's own instructions (a run of
`prompt_echo_chars` letters and digits of a system prompt, an echoed rule; or of
`prompt_secret_chars` of a secret-looking word in it, a token a deployer planted there) is
removed and withheld: `removed` carries a placeholder, not the text, because `removed`
reaches API clients.

A sentence that cites nothing (small models often forget) is checked against every passage
the model was given and, if one supports it, gets that passage's number; a marker that points
at no passage counts as no marker. What fails is removed and reported. If less than
`guard_min_kept` of the sentences survive, the caller falls back to the extractive answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.grounding import _NUMBER_WORD, numbers
from assistant.settings import Settings
from assistant.text import sentences, stems, stopwords, words

EmbedTexts = Callable[[list[str]], list[list[float]]]
WITHHELD = "[withheld: it repeats the assistant's instructions]"

_MARKERS = re.compile(r"\s*\[(\d+)\]")
_MARK = r"(?:[-*\u2022]|\d+[.)])"  # a list item's mark: "-", "*", "•", "1.", "2)"
_LIST_MARK = _MARK + r"\s"  # ... before its text
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+\])+[.!?]?")
# a word that names something: capitalised, an acronym, or letters with digits ("IC3", "18F")
_NAME = re.compile(r"\b(?:[A-Z][\w'-]*|\w*\d\w*[A-Za-z]\w*|[A-Za-z]+\d\w*)\b")
# an address: a web address, an e-mail address, or any link's target ("[text](target)")
_ADDRESS = re.compile(
    r"\]\(\s*<?([^)\s>]+)"  # a link's target
    r"|((?:(?:https?|ftp|file|mailto|tel|javascript|vbscript|data):|www\.)[^\s<>()\[\]\"'`]+)"
    r"|([\w.+-]+@[\w-]+(?:\.[\w-]+)+)", re.IGNORECASE)  # an e-mail address


@dataclass
class Source:
    """One numbered passage the model was given: its text and its units (for similarity)."""

    n: int
    text: str
    units: list[str] = field(default_factory=list)


@dataclass
class Kept:
    """A sentence that passed: its text without markers and the passages that support it."""

    text: str
    cited: list[int]
    bullet: bool = False  # written as a list item


@dataclass
class Checked:
    """A generated answer after the guard."""

    sentences: list[Kept]
    removed: list[str]  # sentences that failed, as generated
    reasons: list[str]  # why each removed sentence failed
    total: int  # sentences checked

    @property
    def kept_share(self) -> float:
        return len(self.sentences) / self.total if self.total else 0.0


class PromptEcho:
    """Finds text that repeats a system prompt: `length` letters and digits in a row of one of
    `prompts`, or `secret` in a row of a secret-looking word of one (at least `secret` long and
    not an English word, or letters mixed with digits: a token or key a deployer put there).
    Case, spaces and punctuation are ignored."""

    def __init__(self, prompts: Sequence[str], length: int, secret: int):
        from wordfreq import zipf_frequency

        flat = [_alnum(p) for p in prompts]
        self.length, self.secret = length, secret
        self.windows = {f[i:i + length] for f in flat for i in range(len(f) - length + 1)}
        tokens = {t.lower() for p in prompts for t in re.findall(rf"[A-Za-z0-9]{{{secret},}}", p)}
        secrets = [t for t in tokens if (any(c.isdigit() for c in t) and any(c.isalpha() for c in t))
                   or zipf_frequency(t, "en") == 0]
        self.pieces = {t[i:i + secret] for t in secrets for i in range(len(t) - secret + 1)}

    def found(self, text: str) -> bool:
        flat = _alnum(text)
        return any(flat[i:i + self.length] in self.windows
                   for i in range(len(flat) - self.length + 1)) or \
            any(flat[i:i + self.secret] in self.pieces for i in range(len(flat) - self.secret + 1))


class Guard:
    """Checks generated sentences against their sources (see the module docstring).
    `instructions`: the system prompts, whose repetition is removed and withheld."""

    def __init__(self, settings: Settings, embed: EmbedTexts | None = None,
                 instructions: Sequence[str] = ()):
        self.settings = settings
        self.embed = embed
        self.echo = PromptEcho(instructions, settings.prompt_echo_chars,
                               settings.prompt_secret_chars)
        self._stop = stopwords()

    def check(self, text: str, sources: Sequence[Source],
              vectors: dict[str, np.ndarray] | None = None) -> Checked:
        """The sentences of `text` its passages support. `vectors` caches the passages' line
        embeddings (pass the same dict to check one answer's sentences one by one)."""
        by_n = {s.n: s for s in sources}
        pieces = split_sentences(text)
        kept: list[Kept] = []
        removed: list[str] = []
        reasons: list[str] = []
        vectors = {} if vectors is None else vectors  # each passage line embedded once per answer
        # a passage's heading repeated (the whole path, or any heading in it) is not a
        # statement: small models echo them as list items
        headings = {_bare(" > ".join(path[i:j])) for s in sources
                    for path in [s.text.partition("\n")[0].split(" > ")]
                    for i in range(len(path)) for j in range(i + 1, len(path) + 1)}
        pieces = [p for p in pieces if _bare(p[1]) not in headings]
        for raw, body, cited in pieces:
            if self.echo.found(raw):  # never passed on, not even as removed text
                removed.append(WITHHELD)
                reasons.append("repeats the assistant's instructions")
                continue
            if body.rstrip().endswith("?"):  # a question (often the prompt echoed) claims nothing
                removed.append(raw.strip())
                reasons.append("a question, not a statement")
                continue
            valid = [n for n in dict.fromkeys(cited) if n in by_n]
            candidates = [by_n[n] for n in valid] if valid else list(sources)
            verdict, support = self._verdict(body, candidates, bool(valid), vectors)
            if verdict:
                removed.append(raw.strip())
                reasons.append(verdict)
            else:
                kept.append(Kept(body, valid or support, bool(re.match(rf"\s*{_LIST_MARK}", raw))))
        return Checked(kept, removed, reasons, len(pieces))

    # ------------------------------------------------------------------------------------
    def _verdict(self, body: str, candidates: list[Source], cite_all: bool,
                 vectors: dict[str, np.ndarray]) -> tuple[str, list[int]]:
        """('', passages that support it) or (why it fails, [])."""
        if not candidates:
            return "no passage to check against", []
        if cite_all:  # checked against everything it cites, together
            return self._supported(body, candidates, vectors)
        for source in candidates:  # uncited: one passage must support it on its own
            verdict, support = self._supported(body, [source], vectors)
            if not verdict:
                return "", support
        return "no passage supports it (and it cites none)", []

    def _supported(self, body: str, group: list[Source],
                   vectors: dict[str, np.ndarray]) -> tuple[str, list[int]]:
        text = "\n".join(s.text for s in group)
        known = set(numbers(text))
        missing = [n for n in numbers(body) if n not in known]
        if missing:
            return f"figure not in the cited passages: {', '.join(missing)}", []
        lowered = text.lower()
        for match in _NUMBER_WORD.finditer(body):
            if not re.search(rf"\b{re.escape(match.group(0).lower())}\b", lowered):
                return f"figure not in the cited passages: {match.group(0)}", []
        for address in addresses(body):
            if address.lower() not in lowered:
                return f"address not in the cited passages: {address}", []
        source_words = {w.lower() for w in words(text)}
        for name in _names(body):
            parts = [w.lower() for w in words(name)]
            if parts and not all(p in source_words or p in self._stop for p in parts):
                return f"name not in the cited passages: {name}", []
        claim = set(stems(body))
        if not claim:
            return "", [s.n for s in group]  # nothing to claim ("Yes.")
        overlap = len(claim & set(stems(text))) / len(claim)
        if overlap >= self.settings.guard_min_overlap:
            return "", [s.n for s in group]
        if self.embed is not None and self.similarity(body, group, vectors) >= \
                self.settings.guard_min_similarity:
            return "", [s.n for s in group]
        return f"not supported by the cited passages (word overlap {overlap:.2f})", []

    def similarity(self, body: str, group: list[Source],
                   cache: dict[str, np.ndarray] | None = None) -> float:
        """Best cosine similarity between the sentence and a unit of the passages. Unit
        vectors found in `cache` are reused and new ones added to it."""
        assert self.embed is not None
        units = list(dict.fromkeys(u for s in group for u in (s.units or [s.text])))
        if not units:
            return -1.0
        cache = {} if cache is None else cache
        new = [u for u in units if u not in cache]
        vectors = np.asarray(self.embed([body] + new), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        cache.update(zip(new, vectors[1:], strict=True))
        return float(max(float(cache[u] @ vectors[0]) for u in units))


def split_sentences(text: str) -> list[tuple[str, str, list[int]]]:
    """(as written, text without markers, markers) per sentence or list line.

    A marker written after the full stop ("... remote. [1]") belongs to the sentence before
    it; a sentence with no marker takes the next marker of its paragraph ("A. B [1]." cites
    [1] for both), as people write citations.
    """
    out: list[tuple[str, str, list[int]]] = []
    for paragraph in re.split(rf"\n\s*\n|\n(?=\s*{_LIST_MARK})", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        found: list[tuple[str, list[int]]] = []
        for line in paragraph.splitlines():
            for piece in sentences(line.strip()):
                lead = _LEADING_MARKERS.match(piece)
                if lead and found:
                    found[-1] = (found[-1][0] + " " + lead.group(0),
                                 found[-1][1] + [int(n) for n in re.findall(r"\d+", lead.group(0))])
                    piece = piece[lead.end():].strip()
                if piece:
                    found.append((piece, [int(n) for n in _MARKERS.findall(piece)]))
        later: list[int] = []
        mine: list[tuple[str, str, list[int]]] = []
        for raw, markers in reversed(found):
            if markers:
                later = markers
            body = _MARKERS.sub("", raw).strip()
            body = re.sub(rf"^(?:{_LIST_MARK}\s*|{_MARK}$)", "", body).strip()
            if words(body):
                mine.append((raw, body, markers or later))
        out.extend(reversed(mine))
    return out


def addresses(text: str) -> list[str]:
    """Web and e-mail addresses and link targets in `text` (trailing punctuation left off)."""
    found = [next(g for g in m.groups() if g) for m in _ADDRESS.finditer(text)]
    return [a.rstrip(".,;:!?'\"") for a in found if a.rstrip(".,;:!?'\"")]


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _bare(text: str) -> str:
    return " ".join(words(text)).lower()


def _names(body: str) -> list[str]:
    """Proper names in a sentence: capitalised words that do not open it (or a clause after a
    colon), acronyms and words with digits."""
    out = []
    for match in _NAME.finditer(body):
        token = match.group(0)
        before = body[:match.start()].rstrip()
        opening = not before or before.endswith((":", ".", "!", "?", "\"", "(", "-", "*"))
        has_digit = any(c.isdigit() for c in token)
        if opening and not has_digit and not token.isupper():
            continue
        if token.isdigit():
            continue
        out.append(token)
    return out
