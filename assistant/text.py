"""Shared text handling: normalising user input, word tokens, stems and stopwords."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

_WORD = re.compile(r"[a-z0-9]+(?:[''\-.][a-z0-9]+)*")
_BRACKETED = re.compile(r"(?<=\d)\(([a-z])\)")  # 401(k), 403(b), 501(c)
_CONTROL = re.compile(  # control characters, zero-width and bidirectional marks
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Function words and question phrasing (assistant/data/stopwords.txt)."""
    text = resources.files("assistant").joinpath("data/stopwords.txt").read_text("utf-8")
    words = " ".join(line for line in text.splitlines() if not line.startswith("#")).split()
    return frozenset(words)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import snowballstemmer

    return snowballstemmer.stemmer("english")


# a lone UTF-16 surrogate (from JSON "\\ud800" or an undecodable command-line byte) is no text
_SURROGATE = re.compile("[\ud800-\udfff]")
# characters that take no space (Unicode's default-ignorable code points other than the
# bidirectional marks): soft hyphen, zero-width space and joiners, word joiner and invisible
# operators, byte-order mark, combining grapheme joiner, Hangul fillers, Mongolian and other
# variation selectors, and the tag characters that can spell hidden ASCII ("ASCII smuggling")
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
                        "\u200b\u200c\u200d\u2060-\u2064\u3164\ufe00-\ufe0f\ufeff\uffa0"
                        "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
_HYPHENS = str.maketrans({"\u2010": "-", "\u2011": "-", "\u00a0": " "})


def clean(text: str) -> str:
    """Document text as a reader sees it: soft hyphens and zero-width marks gone, Unicode
    hyphens and no-break spaces made plain, whitespace collapsed."""
    return " ".join(_INVISIBLE.sub("", text).translate(_HYPHENS).split())


def normalize(text: str) -> str:
    """NFKC-normalise, drop control and invisible characters, collapse whitespace."""
    text = _INVISIBLE.sub("", text).translate(_HYPHENS)
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace(
        "\u201d", '"')
    text = _CONTROL.sub(" ", _SURROGATE.sub("", text))
    return re.sub(r"\s+", " ", text).strip()


class InertMarkup:
    """Makes Markdown from untrusted text (documents, a model, a question) inert: an HTML tag or
    an autolink (`<` before a letter, `/`, `!` or `?`) and an image (`![`) are backslash-escaped,
    so a CommonMark renderer shows them as the text they are, never as markup to act on.
    Answers themselves use neither, so nothing they mean is lost; links stay links.

    Text can be fed in pieces (a streamed answer): a trailing `<`, `!` or backslash waits for
    the next piece, so the pieces escaped join to the whole text escaped at once."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        cut = len(text)
        while cut and text[cut - 1] in "<!\\":
            cut -= 1
        self._held = text[cut:]
        return inert_markup(text[:cut])

    def flush(self) -> str:
        held, self._held = self._held, ""
        return inert_markup(held)


_TAG_START = re.compile(r"(?<!\\)<(?=[A-Za-z/!?])")
_IMAGE_START = re.compile(r"(?<!\\)!\[")


def inert_markup(text: str) -> str:
    """`text` with HTML tags, autolinks and images made literal (see `InertMarkup`)."""
    return _IMAGE_START.sub(r"!\\[", _TAG_START.sub(r"\\<", text))


def phrase_pattern(phrase: str, plural: bool = False) -> str:
    """A regular expression for `phrase` as whole words: not inside a longer word or a
    hyphenated one ("intern" is not in "internal" or "co-intern"); `plural` also takes it
    with -s or -es ("visa" finds "visas")."""
    return rf"(?<![\w-]){re.escape(phrase)}{'(?:e?s)?' if plural else ''}(?![\w-])"


def sentences(text: str) -> list[str]:
    """Sentences of a paragraph, exactly as written (syntok knows "Sr.", "e.g.", "U.S.", "5.5")."""
    import syntok.segmenter as segmenter

    out: list[str] = []
    for paragraph in segmenter.analyze(text):
        for sentence in paragraph:
            tokens = list(sentence)
            if tokens:
                last = tokens[-1]
                piece = text[tokens[0].offset:last.offset + len(last.value)].strip()
                if not piece:
                    continue
                if out and out[-1].endswith((";", ",", ":")):  # syntok also cuts at ";"
                    start = text.find(out[-1])
                    end = text.find(piece, start) + len(piece)
                    out[-1] = text[start:end].strip() if start >= 0 and end > start \
                        else f"{out[-1]} {piece}"
                else:
                    out.append(piece)
    return out or ([text.strip()] if text.strip() else [])


def match_key(text: str) -> str:
    """Case-, punctuation- and unicode-insensitive form, to match quoted text to its source."""
    return re.sub(r"[^a-z0-9]+", " ", normalize(text).lower()).strip()


def words(text: str) -> list[str]:
    """Lower-case word tokens; punctuation splits them ("$130,819" -> "130", "819"), except
    a letter in brackets after a number, which is part of it: "401(k)" is "401k", as
    candidates write it."""
    text = _BRACKETED.sub(r"\1", normalize(text).lower().replace("\u2019", "'"))
    return [w.strip("'.-") for w in _WORD.findall(text) if w.strip("'.-")]


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """Snowball stem of one lower-case word."""
    return str(_stemmer().stemWord(word))


def content_words(text: str) -> list[str]:
    """Words that carry meaning: not stopwords, not single letters."""
    stop = stopwords()
    return [w for w in words(text) if w not in stop and (len(w) > 1 or w.isdigit())]


def stems(text: str) -> list[str]:
    """Stems of the content words, for BM25 and coverage checks."""
    return [stem(w) for w in content_words(text)]


def _within_one_edit(a: str, b: str) -> bool:
    """True when b is a by one insertion, deletion, substitution or adjacent swap.

    Hand-written because it is all the spelling help needed and no extra package is worth it.
    """
    if a == b or abs(len(a) - len(b)) > 1:
        return a == b
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and \
            a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def _is_swap(a: str, b: str) -> bool:
    return len(a) == len(b) and sorted(a) == sorted(b) and _within_one_edit(a, b)


def _is_dropped_letter(a: str, b: str) -> bool:
    """b is a with one letter put back ("salry" -> "salary")."""
    return len(b) == len(a) + 1 and any(b[:i] + b[i + 1:] == a for i in range(len(b)))


@lru_cache(maxsize=8)
def _stems_of(vocabulary: frozenset[str]) -> frozenset[str]:
    return frozenset(stem(w) for w in vocabulary)


def correct_spelling(text: str, vocabulary: frozenset[str], min_length: int = 4,
                     edit_length: int = 6, known_zipf: float = 3.0) -> str:
    """Fix one-edit typos ("responsibilites", "experiance") against the documents' words.

    A word that is already English (wordfreq's Zipf frequency at least `known_zipf`, so
    "stages" never becomes "states") or shorter than `min_length` is left alone; words shorter
    than `edit_length` are only fixed for swapped letters ("teh") or a dropped one
    ("salry"); a word with several equally close candidates is left alone.
    """
    from wordfreq import zipf_frequency

    out: list[str] = []
    known_stems = _stems_of(vocabulary)
    for token in re.split(r"(\W+)", text):
        low = token.lower()
        if not low.isalpha() or len(low) < min_length or low in vocabulary \
                or stem(low) in known_stems \
                or (token[0].isupper() and len(out) > 1):  # names are not typos
            out.append(token)
            continue
        if zipf_frequency(low, "en") >= known_zipf:
            out.append(token)
            continue
        close = [w for w in vocabulary if abs(len(w) - len(low)) <= 1 and w[0] == low[0]
                 and (_within_one_edit(low, w) if len(low) >= edit_length
                      else _is_swap(low, w) or _is_dropped_letter(low, w))]
        if len(close) == 1 or (len(close) > 1 and len({stem(w) for w in close}) == 1):
            out.append(close[0])
        else:
            out.append(token)
    return "".join(out)


# a line of a record that states one fact under a short label ("Security clearance: Public
# trust."); a labelled bullet ("- Experience: 5+ years ...") is one aspect of a list instead
_FACT_LINE = re.compile(r"^\s*([A-Z][\w&/(),' -]{0,40}?):\s+\S")
_FACT_LABEL_WORDS = 5


def fact_label(line: str) -> str:
    """The label of a line that states one fact under it ("Series & Grade" of "Series &
    Grade: 0301-15"), or "" for any other line."""
    match = _FACT_LINE.match(line)
    if match is None or len(match.group(1).split()) > _FACT_LABEL_WORDS:
        return ""
    return match.group(1)


def without_fact_label(line: str) -> str:
    """The fact a record's line states, without its label ("0301-15" of "Series & Grade:
    0301-15"); any other line as it is."""
    label = fact_label(line)
    return line.split(":", 1)[1].lstrip() if label else line
