"""Follow-up questions: turn "and after that?" into a standalone query, without an LLM.

Three kinds of follow-up are recognised by generic discourse cues, never by known questions:
- a reference to an item of the previous answer, by position ("say more about the first one",
  "the last point") or by its own words (a short follow-up whose words only one item holds):
  that item becomes the query;
- sequence ("and after that?", "what comes next?"): the passage that follows, in document
  order, the last one the previous answer quoted becomes the query;
- elliptic (a follow-up opening with "and", "what about", very short, or leaning on a
  pronoun): the previous question supplies the topic; "the next level up" or "the level
  below" is written as the level one step from the numbered level the topic names.
A leading clause of only filler words ("ok,", "so -") is set aside first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.text import content_words, match_key, normalize, phrase_pattern, stems
from assistant.types import InvalidQuestion

_ORDINALS = {
    "first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
    "fifth": 4, "5th": 4, "sixth": 5, "6th": 5, "seventh": 6, "eighth": 7, "ninth": 8,
    "tenth": 9, "last": -1, "final": -1, "latter": -1, "former": 0,
}
_ORDINAL = re.compile(
    r"\b(" + "|".join(_ORDINALS) + r")\b(?:\s+(?:one|item|point|thing|bullet|of (?:these|those|them)))?"
    r"|\b(?:number|no\.?|#)\s*(\d{1,2})\b", re.IGNORECASE)
_SEQUENCE = re.compile(
    r"\b(after (?:that|this|it)|afterwards?|what(?:'s| is| comes)? next|next (?:step|stage|level|one)"
    r"|and then|then what|the one after|beyond that|what follows|after those)\b", re.IGNORECASE)
# "the next level up", "the level below", "one grade higher": a step along a career ladder
_RELATIVE_LEVEL = re.compile(
    r"\b(?:the\s+)?(?:(?:next|following|higher|previous|prior|lower)\s+(?:level|grade|band)"
    r"(?:\s+(?:up|down))?|(?:level|grade|band)\s+(?:above|below|up|down)"
    r"|(?:one|a)\s+(?:level|grade|band)\s+(?:up|down|higher|lower|above|below))\b",
    re.IGNORECASE)
_DOWN = re.compile(r"\b(?:previous|prior|lower|below|down)\b", re.IGNORECASE)
_ELLIPTIC_START = re.compile(
    r"^(?:and|but|or|also|so|what about|how about|what of|and what about|same for|then)\b",
    re.IGNORECASE)
# "who can apply?", "how do i apply?": a question word, a verb and its object, complete with
# one content word (a fragment such as "salary?" or "and IC4?" is not)
_COMPLETE = re.compile(
    r"^(?:who|what|when|where|why|how|which)(?:'s|'re)?\s+(?:\S+\s+){1,}\S+", re.IGNORECASE)
# a yes/no question of its own ("is it remote?", "does it have a 401k?"), not a fragment that
# asks the earlier question again ("in chicago?")
_ASKS = re.compile(r"^(?:is|are|was|were|do|does|did|can|could|will|would|should|has|have)\b",
                   re.IGNORECASE)
_WHERE = re.compile(r"^where\b", re.IGNORECASE)
_PRONOUN = re.compile(r"\b(it|its|that|this|they|them|those|these|there|one|ones|he|she)\b",
                      re.IGNORECASE)
_CLAUSE = re.compile(r"^([^,.!?:;\u2014\u2013]*)[,.!?:;\u2014\u2013]+\s*(?=\S)")
_MORE = re.compile(r"\b(more|elaborate|expand|details?|explain (?:that|it|this))\b", re.IGNORECASE)
# words that only point ("tell me more about the one on ..."): they name no item
_POINTING = frozenset(stems("more elaborate expand detail details explain item point part bit "
                            "piece thing one ones bullet line"))
_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.*\S)\s*$")
_MARKUP = re.compile(r"\[\d+\]|\*\*|__|`")
_CITED = re.compile(r"\[\d+\]\s*$")


@dataclass
class Message:
    """One turn of the conversation."""

    role: str  # "user" | "assistant"
    content: str


@dataclass
class Resolved:
    """A question made standalone for retrieval."""

    question: str  # the user's question, cleaned
    query: str  # what retrieval searches for
    queries: list[str] = field(default_factory=list)  # more queries whose rankings are fused
    kind: str = ""  # "" | ordinal | sequence | elliptic
    focus: list[str] = field(default_factory=list)  # unit texts the query is about
    avoid: list[str] = field(default_factory=list)  # passage texts already shown
    coverage_text: str = ""  # the words whose coverage decides abstention
    # "more" with nothing named: the lines the answers so far quoted, not to be quoted again
    seen: list[str] = field(default_factory=list)


def parse_history(history: Sequence[Any] | None, max_turns: int, max_chars: int) -> list[Message]:
    """Accept [{"role", "content"}], [(user, assistant)] pairs or plain user strings."""
    if history is None:
        return []
    if isinstance(history, (str, bytes, bytearray)):
        raise InvalidQuestion("history must be a list of messages, not a string")
    if not isinstance(history, Sequence):
        raise InvalidQuestion(f"history must be a list of messages, not {type(history).__name__}")
    messages: list[Message] = []
    for item in history:
        if isinstance(item, Message):
            messages.append(item)
        elif isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if role not in ("user", "assistant") or not isinstance(content, str):
                raise InvalidQuestion(
                    "each history message needs role 'user' or 'assistant' and text content")
            messages.append(Message(role, content))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            user, bot = item
            if isinstance(user, str) and user:
                messages.append(Message("user", user))
            if isinstance(bot, str) and bot:
                messages.append(Message("assistant", bot))
        elif isinstance(item, str):
            messages.append(Message("user", item))
        else:
            raise InvalidQuestion(f"history entries must be messages, got {type(item).__name__}")
    messages = messages[-max_turns:] if max_turns else []
    total = 0
    kept: list[Message] = []
    for message in reversed(messages):  # keep the most recent turns within the size cap
        total += len(message.content)
        if total > max_chars:
            break
        lines = [" " * (len(line) - len(line.lstrip(" "))) + normalize(line)  # keep nesting
                 for line in message.content[:max_chars].splitlines() if normalize(line)]
        kept.append(Message(message.role, "\n".join(lines)))
    return list(reversed(kept))


def answer_items(answer: str, enumerated: bool = False) -> list[str]:
    """The list items of a previous answer, in order, without markup or [n] markers.

    With `enumerated`, only the longest run of sibling items (same indentation, one after
    another): the list a person means by "the first one".
    """
    items: list[tuple[int, str]] = []
    for line in answer.splitlines():
        match = _ITEM.match(line)
        if match:
            text = _MARKUP.sub("", match.group(1)).strip()
            if text:
                items.append((len(line) - len(line.lstrip()), text))
        elif line.strip():
            items.append((-1, ""))  # a heading or sentence ends a run
    if not enumerated:
        return [text for _, text in items if text]
    runs: list[tuple[int, list[str]]] = []  # (indentation, items) of sibling runs
    previous = None
    for indent, text in items:
        if not text:
            previous = None
            continue
        if previous is None or indent != previous:
            runs.append((indent, []))
        runs[-1][1].append(text)
        previous = indent
    # the longest run; on a tie the nested one (a "Label:" bullet announces the list)
    return max(runs, key=lambda run: (len(run[1]), run[0]))[1] if runs else []


def _is_elliptic(question: str) -> bool:
    words = content_words(question)
    if _ELLIPTIC_START.search(question) or len(words) <= 1:
        return True
    return bool(_PRONOUN.search(question))


def lead_in_removed(question: str) -> str:
    """The question without a leading clause made only of filler words ("ok, ...")."""
    match = _CLAUSE.match(question)
    if match and not content_words(match.group(1)):
        return question[match.end():].strip() or question
    return question


def resolve(question: str, history: list[Message], units: UnitLookup | None = None,
            max_words: int = 20, focus_words: int = 3, topic_chars: int = 600,
            specifics: Callable[[str], list[Any]] | None = None,
            item_share: float = 0.5) -> Resolved:
    """Make `question` standalone using the conversation so far.

    Only a question of at most `max_words` words is read as a follow-up; one with at most
    `focus_words` content words may name an item of the previous answer by its own words
    (at least `item_share` of them in that item);
    the earlier topic carried into an elliptic follow-up is at most `topic_chars` long.
    `specifics` finds what a text pins its answer to (levels, places, years...): a follow-up
    naming one ("and for IC4?") replaces the earlier one of the same kind in the topic.
    """
    users = [m.content for m in history if m.role == "user"]
    last_answer = next((m.content for m in reversed(history) if m.role == "assistant"), "")
    if not users:
        return Resolved(question, question, coverage_text=question)
    topic = _topic(users, topic_chars)
    items = answer_items(last_answer, enumerated=True)
    bare = lead_in_removed(question)
    short = len(bare.split()) <= max_words
    more = bool(_MORE.search(bare))

    stepped = _level_stepped(bare, topic, specifics) if short and specifics else None
    if stepped is not None and specifics is not None:  # "the next level up" after M3: M4
        return Resolved(question, f"{_substitute(topic, stepped, specifics)} {stepped}",
                        [stepped], "elliptic", coverage_text=stepped)

    item, by_position = _referenced_item(bare, items, focus_words, more, item_share) if short \
        else (None, False)
    if item is not None and not by_position and specifics is not None \
            and not _names_only_its_own(bare, item, specifics):
        item = None  # "and at the top level, ic5?" shares "level" with an item about IC3
    if item is not None:
        avoid = _quoted(last_answer, units) if more else []
        rest = _ORDINAL.sub(" ", bare)
        query = f"{item}. {rest}" if len(content_words(rest)) > 2 and not more else item
        # "the first one" asks about that item; "and the bonus, how much?" still asks its own
        # question of it, so what it asks is what must be covered
        return Resolved(question, query, [f"{item} ({topic})"], "ordinal", focus=[item],
                        avoid=avoid, coverage_text=item if by_position or more else bare)

    if _SEQUENCE.search(bare) and short and units is not None and last_answer:
        section, following = units.following(last_answer)
        if following:
            # the section path leads the query: "Teamwork:" and its bullets recur in every
            # level of every career framework; the path names the role and the level
            return Resolved(question, f"{section}: {' '.join(following)}", [], "sequence",
                            focus=following, coverage_text=" ".join(following))

    if short and _is_elliptic(bare):
        again = more and len(content_words(bare)) <= 2  # "more", "tell me more"
        avoid = _quoted(last_answer, units) if again else []
        if specifics is not None:
            own = {s.kind for s in specifics(bare)} - {s.kind for s in specifics(topic)} \
                if _ASKS.search(bare) else set()
            # "where is it based?" asks a place of its own: "it" is the role, not the topic
            complete = (bool(_COMPLETE.search(bare)) and not _PRONOUN.search(bare)) or (
                bool(_WHERE.search(bare)) and not specifics(topic))
            if (own or complete) and not again and not _ELLIPTIC_START.search(bare):
                # "is it remote?" after the pay: "it" is the job, and "remote" the question's
                # own topic, which leads; the earlier topic only joins the ranking. A complete
                # question ("who can apply?") is asked of the same role, not of the topic
                return Resolved(question, bare, [] if complete else [f"{topic} {bare}"],
                                "elliptic", coverage_text=bare)
            topic = _substitute(topic, bare, specifics)
        return Resolved(question, f"{topic} {bare}", [bare], "elliptic", avoid=avoid,
                        coverage_text=bare, seen=_shown(history) if again else [])
    return Resolved(question, question, coverage_text=question)


def _referenced_item(question: str, items: list[str], focus_words: int,
                     more: bool, item_share: float = 0.5) -> tuple[str | None, bool]:
    """The previous answer's item a follow-up points at, and whether by position: "the first
    one", or, for a short follow-up or a request for more, words only that item holds."""
    if not items:
        return None, False
    ordinal = _ORDINAL.search(question)
    if ordinal:
        index = _ORDINALS.get((ordinal.group(1) or "").lower())
        if index is None and ordinal.group(2):
            index = int(ordinal.group(2)) - 1
        if index is not None and -len(items) <= index < len(items):
            return items[index], True
    asked = set(stems(question)) - _POINTING
    if len(items) < 2 or not asked or (len(asked) > focus_words and not more):
        return None, False
    shared = set.intersection(*(set(stems(item)) for item in items))
    overlap = [len((asked - shared) & set(stems(item))) for item in items]
    best = max(overlap)
    if best and overlap.count(best) == 1 and best >= item_share * len(asked - shared):
        return items[overlap.index(best)], False
    return None, False


def _names_only_its_own(question: str, item: str, specifics: Callable[[str], list[Any]]) -> bool:
    """Whether every specific the follow-up names (a level, a place, a year) is in the item
    its words point at: one that names another points away from the item, at the topic."""
    low = item.lower()
    return all(re.search(phrase_pattern(s.key), low)
               for s in specifics(question))


def _level_stepped(question: str, topic: str, specifics: Callable[[str], list[Any]]
                   ) -> str | None:
    """The follow-up with "the next level up" (or "the level below") written as the level it
    means, one step from the last numbered level the topic names (M3 -> M4, IC5 -> IC4,
    GS-13 -> GS-14); None when it asks no such step or the topic names no numbered level."""
    match = _RELATIVE_LEVEL.search(question)
    if not match:
        return None
    levels = [s.text for s in specifics(topic) if s.kind == "level"]
    number = re.search(r"(\d+)$", levels[-1]) if levels else None
    if number is None:
        return None
    step = -1 if _DOWN.search(match.group(0)) else 1
    value = int(number.group(1)) + step
    if value < 0:
        return None
    level = levels[-1][:number.start()] + str(value)
    return question[:match.start()] + level + question[match.end():]


def _substitute(topic: str, question: str, specifics: Callable[[str], list[Any]]) -> str:
    """The topic without the specifics a follow-up replaces: after "ndr target for ic1?",
    "and for ic3?" asks about ic3 instead, so ic1 leaves the topic."""
    new = {s.kind for s in specifics(question)}
    if not new:
        return topic
    for old in specifics(topic):
        if old.kind in new:
            topic = re.sub("(?i)" + phrase_pattern(old.text), " ", topic)
    return " ".join(topic.split())


def _topic(users: list[str], topic_chars: int = 600) -> str:
    """The latest user question that stands on its own, plus any follow-ups after it."""
    for i in range(len(users) - 1, -1, -1):
        if not _is_elliptic(users[i]) or i == 0:
            return " ".join(users[i:])[-topic_chars:]
    return users[-1]


def _shown(history: list[Message]) -> list[str]:
    """Every line the conversation's answers quoted (list items and prose, each ending in
    its [n] marker), without markup."""
    out = []
    for message in history:
        if message.role != "assistant":
            continue
        for line in message.content.splitlines():
            if _CITED.search(line):
                text = _MARKUP.sub("", line).strip().lstrip("-*\u2022 ").strip()
                if text:
                    out.append(text)
    return out


def _quoted(answer: str, units: UnitLookup | None) -> list[str]:
    if units is None or not answer:
        return []
    return units.chunks_quoted(answer)


# an answer's heading line: the section path its quotes come from
_HEADING = re.compile(r"^\*\*(.+)\*\*\s*$")


def _under(section: str, headings: list[str]) -> bool:
    """Whether a unit of `section` may be one quoted under one of `headings` (the section
    itself, one of its sub-sections, or the section a sub-section heading belongs to; a
    heading may leave out the path's first parts)."""
    return any(section == h or section.startswith(f"{h} > ") or h.startswith(f"{section} > ")
               or section.endswith(f" > {h}") for h in headings)


class UnitLookup:
    """Find which indexed units an earlier answer quoted, and what follows them."""

    def __init__(self, unit_texts: list[str], unit_meta: list[dict[str, Any]]):
        self.texts = unit_texts
        self.meta = unit_meta
        self.body = [i for i, m in enumerate(unit_meta) if m.get("kind") != "title"]
        self.by_text: dict[str, list[int]] = {}
        for i in self.body:
            self.by_text.setdefault(match_key(unit_texts[i]), []).append(i)

    def quoted(self, answer: str) -> list[int]:
        """Indices (corpus order) of units whose text the answer quotes as a list item, in
        the sections the answer is headed by ("**Support engineering career framework >
        IC2**"): labels such as "Impact:" recur in every level of every career framework,
        and "and after that?" went on from the last of them in the corpus, in another
        role's document. Quotes found under no heading (an answer without headings, as a
        model may write) are matched anywhere."""
        headed = [m.group(1).strip() for m in map(_HEADING.match, answer.splitlines()) if m]
        found: list[int] = []
        for item in answer_items(answer):
            for i in self.by_text.get(match_key(item), []):
                if i not in found:
                    found.append(i)
        under = [i for i in found if _under(self.meta[i]["section"], headed)]
        return sorted(under or found)

    def chunks_quoted(self, answer: str) -> list[str]:
        return sorted({self.meta[i]["chunk_id"] for i in self.quoted(answer)})

    def following(self, answer: str) -> tuple[str, list[str]]:
        """The section path and texts of the group that follows the last quoted unit in
        document order."""
        group = self._following(answer)
        return (self.meta[group[0]]["section"] if group else "", [self.texts[i] for i in group])

    def _following(self, answer: str) -> list[int]:
        quoted = self.quoted(answer)
        if not quoted:
            return []
        last = quoted[-1]
        position = self.body.index(last)
        rest = self.body[position + 1:]
        source = self.meta[last]["source"]
        rest = [i for i in rest if self.meta[i]["source"] == source
                and self.meta[i]["kind"] not in ("item", "heading")
                and self.meta[i].get("chunk_kind") != "overview"]  # skip section overviews
        if not rest:
            return []
        label = self.meta[last].get("label") or (
            self.texts[last] if self.meta[last]["kind"] == "label" else "")
        if label:  # inside a labelled group: the next group is the next label and its bullets
            nxt = next((i for i in rest if self.meta[i]["kind"] == "label"
                        and self.meta[i]["chunk_id"] == self.meta[last]["chunk_id"]), None)
            if nxt is not None:
                return [nxt] + [i for i in rest if self.meta[i].get("label") == self.texts[nxt]
                                and self.meta[i]["chunk_id"] == self.meta[nxt]["chunk_id"]]
        first = rest[0]
        if self.meta[first]["chunk_id"] != self.meta[last]["chunk_id"] or not label:
            return [i for i in rest if self.meta[i]["chunk_id"] == self.meta[first]["chunk_id"]]
        return [first]
