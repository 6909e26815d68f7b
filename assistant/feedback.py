"""Candidate feedback and content gaps, kept in SQLite so HR can see what the documents miss.

Each row is one event: a thumbs up or down on an answer, or a question the assistant abstained
on. Only the question, the answer, its citations, the abstention reason and the time are kept:
no client address, session or other personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

Kind = Literal["up", "down", "abstained"]
KINDS: tuple[str, ...] = ("up", "down", "abstained")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('up', 'down', 'abstained')),
    question TEXT NOT NULL,
    answer TEXT NOT NULL DEFAULT '',
    citations TEXT NOT NULL DEFAULT '[]',
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    answer_id TEXT
);
CREATE INDEX IF NOT EXISTS events_kind_time ON events (kind, created_at);
"""
# one vote per answer: voting again replaces it (NULL answer ids, e.g. abstentions, repeat)
_VOTE_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS events_answer ON events (answer_id)"


class AnswerSigner:
    """Signs the answers the server gives, so feedback can only be about one of them.

    The signature (HMAC-SHA256) covers the question, the answer and its citations; a vote
    carrying other text, or none, is refused. Replicas share the key (`feedback_secret`).
    """

    def __init__(self, key: bytes):
        self.key = key

    @classmethod
    def for_store(cls, secret: str | None, db_path: Path) -> AnswerSigner:
        """The configured key, else a random one kept (0600) next to the feedback database."""
        if secret:
            return cls(secret.encode("utf-8"))
        path = Path(db_path).with_suffix(".key")
        try:
            return cls(bytes.fromhex(path.read_text("ascii").strip()))
        except (OSError, ValueError):
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_bytes(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(key.hex())
            return cls(key)

    def sign(self, question: str, answer: str, citations: Sequence[Any],
             nonce: str | None = None) -> str:
        """`nonce.signature`: each reply gets its own id (one vote per reply given, so two
        candidates disliking the same answer count twice, one candidate voting again once)."""
        nonce = nonce or secrets.token_hex(8)
        cited = [c.to_dict() if hasattr(c, "to_dict") else dict(c) for c in citations]
        payload = json.dumps([nonce, question, answer,
                              [[c.get("n"), c.get("source"), c.get("section"), c.get("text")]
                               for c in cited]], ensure_ascii=False, separators=(",", ":"))
        digest = hmac.new(self.key, payload.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"{nonce}.{digest.hexdigest()}"

    def verify(self, answer_id: str | None, question: str, answer: str,
               citations: Sequence[Any]) -> bool:
        nonce, _, _ = str(answer_id or "").partition(".")
        # compared as bytes: compare_digest refuses str with non-ASCII characters (a forged id)
        return bool(nonce) and hmac.compare_digest(
            str(answer_id).encode("utf-8", "surrogatepass"),
            self.sign(question, answer, citations, nonce).encode("utf-8", "surrogatepass"))


@dataclass
class Gap:
    """A question the documents could not answer, grouped over its phrasings."""

    question: str  # the most frequent phrasing
    count: int
    first_asked: float
    last_asked: float
    reasons: dict[str, int] = field(default_factory=dict)
    phrasings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "count": self.count, "first_asked": self.first_asked,
                "last_asked": self.last_asked, "reasons": self.reasons,
                "phrasings": self.phrasings}


def question_key(question: str) -> str:
    """Group phrasings that differ only in case, spacing and punctuation."""
    return " ".join(re.findall(r"\w+", question.lower()))


class FeedbackStore:
    """Append-only event log in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    with sqlite3.connect(self.path, timeout=10) as db:
                        db.execute("PRAGMA journal_mode=WAL")
                        db.executescript(_SCHEMA)
                        columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
                        if "answer_id" not in columns:  # a database from before signed votes
                            db.execute("ALTER TABLE events ADD COLUMN answer_id TEXT")
                        db.execute(_VOTE_INDEX)
                    self._ready = True
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def record(self, kind: Kind, question: str, answer: str = "",
               citations: Sequence[Any] = (), reason: str = "",
               at: float | None = None, answer_id: str | None = None) -> None:
        """Store one event; citations are Citation objects or dicts. A vote on an answer
        already voted on (same `answer_id`) replaces the earlier vote."""
        if kind not in KINDS:
            raise ValueError(f"unknown feedback kind {kind!r}; expected one of {KINDS}")
        cited = [c.to_dict() if hasattr(c, "to_dict") else dict(c) for c in citations]
        with self._connect() as db:
            db.execute(
                "INSERT INTO events (kind, question, answer, citations, reason, created_at, "
                "answer_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(answer_id) DO UPDATE SET "
                "kind = excluded.kind, created_at = excluded.created_at",
                (kind, question, answer, json.dumps(cited, ensure_ascii=False), reason,
                 time.time() if at is None else at, answer_id),
            )

    def events(self, kind: Kind | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The most recent events, newest first."""
        query = "SELECT kind, question, answer, citations, reason, created_at FROM events"
        args: tuple[Any, ...] = ()
        if kind:
            query += " WHERE kind = ?"
            args = (kind,)
        query += " ORDER BY id DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(query, (*args, limit)).fetchall()
        return [{"kind": k, "question": q, "answer": a, "citations": json.loads(c),
                 "reason": r, "created_at": t} for k, q, a, c, r, t in rows]

    def counts(self, since: float | None = None) -> dict[str, int]:
        """How many events of each kind (since a Unix time, if given)."""
        with self._connect() as db:
            rows = db.execute("SELECT kind, COUNT(*) FROM events WHERE created_at >= ? "
                              "GROUP BY kind", (since or 0.0,)).fetchall()
        return {kind: 0 for kind in KINDS} | dict(rows)

    def gaps(self, since: float | None = None, limit: int | None = None,
             include_disliked: bool = False) -> list[Gap]:
        """Questions the documents could not answer, most frequent first.

        With include_disliked, questions whose answer got a thumbs down count too (reason
        "disliked"): the documents may cover the topic, but not well enough.
        """
        kinds = ("abstained", "down") if include_disliked else ("abstained",)
        marks = ",".join("?" * len(kinds))
        with self._connect() as db:
            rows = db.execute(
                f"SELECT kind, question, reason, created_at FROM events "  # noqa: S608 - fixed marks
                f"WHERE kind IN ({marks}) AND created_at >= ? ORDER BY created_at",
                (*kinds, since or 0.0)).fetchall()
        groups: dict[str, dict[str, Any]] = {}
        for kind, question, reason, at in rows:
            key = question_key(question)
            if not key:
                continue
            group = groups.setdefault(key, {"n": 0, "first": at, "last": at, "reasons": {},
                                            "phrasings": {}})
            group["n"] += 1
            group["last"] = at
            why = reason or ("disliked" if kind == "down" else "not_covered")
            group["reasons"][why] = group["reasons"].get(why, 0) + 1
            group["phrasings"][question] = group["phrasings"].get(question, 0) + 1
        out = []
        for group in groups.values():
            phrasings = sorted(group["phrasings"], key=lambda q: -group["phrasings"][q])
            out.append(Gap(phrasings[0], group["n"], group["first"], group["last"],
                           dict(sorted(group["reasons"].items(), key=lambda kv: -kv[1])),
                           phrasings))
        out.sort(key=lambda g: (-g.count, -g.last_asked))
        return out[:limit] if limit else out
