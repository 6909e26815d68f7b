"""assistant/feedback.py and `assistant report`: what candidates asked that the documents miss."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.feedback import FeedbackStore, question_key
from assistant.types import Citation


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "var" / "feedback.sqlite3")


def test_events_keep_question_answer_citations_and_time_only(store: FeedbackStore) -> None:
    citation = Citation(1, "role.txt", "Overview > Work Environment", "- Hybrid work", 21, 22)
    store.record("up", "Is remote work possible?", "Hybrid [1]", [citation], at=100.0)
    store.record("abstained", "Do you sponsor visas?", "I couldn't find that", reason="off_topic",
                 at=200.0)
    latest, first = store.events()
    assert latest == {"kind": "abstained", "question": "Do you sponsor visas?",
                      "answer": "I couldn't find that", "citations": [], "reason": "off_topic",
                      "created_at": 200.0}
    assert first["citations"] == [{"n": 1, "source": "role.txt",
                                   "section": "Overview > Work Environment",
                                   "text": "- Hybrid work", "line_start": 21, "line_end": 22,
                                   "title": "", "locator": "line"}]
    columns = [row[1] for row in sqlite3.connect(store.path).execute("PRAGMA table_info(events)")]
    assert columns == ["id", "kind", "question", "answer", "citations", "reason", "created_at",
                       "answer_id"]  # the signature of the reply voted on, nothing personal
    assert store.counts() == {"up": 1, "down": 0, "abstained": 1}
    assert store.counts(since=150) == {"up": 0, "down": 0, "abstained": 1}
    with pytest.raises(ValueError):
        store.record("meh", "x")  # type: ignore[arg-type]


def test_gaps_group_wordings_and_rank_by_frequency(store: FeedbackStore) -> None:
    for at, question in enumerate(["Do you sponsor visas?", "do you sponsor visas", "Is there a "
                                   "signing bonus?", "DO YOU SPONSOR VISAS?!", "Do you sponsor "
                                   "visas?", "Is there a signing bonus?", "What about pets?"]):
        store.record("abstained", question, "…", reason="not_covered", at=float(at))
    store.record("down", "Is the team remote?", "Hybrid [1]", at=10.0)
    gaps = store.gaps()
    assert [(g.question, g.count) for g in gaps] == [
        ("Do you sponsor visas?", 4), ("Is there a signing bonus?", 2), ("What about pets?", 1)]
    assert set(gaps[0].phrasings) == {"Do you sponsor visas?", "do you sponsor visas",
                                      "DO YOU SPONSOR VISAS?!"}
    assert gaps[0].first_asked == 0.0 and gaps[0].last_asked == 4.0
    assert gaps[0].reasons == {"not_covered": 4}
    assert [g.question for g in store.gaps(limit=1)] == ["Do you sponsor visas?"]
    # since t=5 each was asked once: ties go to the most recent first
    assert [g.question for g in store.gaps(since=5)] == ["What about pets?",
                                                         "Is there a signing bonus?"]
    with_disliked = {g.question: g.reasons for g in store.gaps(include_disliked=True)}
    assert with_disliked["Is the team remote?"] == {"disliked": 1}
    assert question_key("  Do   you, sponsor VISAS? ") == "do you sponsor visas"


def test_store_is_safe_across_threads(store: FeedbackStore) -> None:
    import threading

    threads = [threading.Thread(target=lambda i=i: [store.record("abstained", f"q{i % 3}")
                                                    for _ in range(20)]) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.counts()["abstained"] == 120
    assert sorted(g.count for g in store.gaps()) == [40, 40, 40]


def test_report_command_lists_gaps_most_frequent_first(store: FeedbackStore) -> None:
    for question in ["Do you sponsor visas?"] * 3 + ["Is there a signing bonus?"]:
        store.record("abstained", question, "…", reason="not_covered")
    store.record("up", "Is remote work possible?", "Hybrid [1]")
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--db", str(store.path)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1 thumbs up, 0 thumbs down, 4 unanswered questions" in out
    assert out.index("Do you sponsor visas?") < out.index("Is there a signing bonus?")
    assert "assistant index" in out

    result = runner.invoke(app, ["report", "--db", str(store.path), "--json", "--limit", "1"])
    data = json.loads(result.output)
    assert data["counts"] == {"up": 1, "down": 0, "abstained": 4}
    assert [(g["question"], g["count"]) for g in data["gaps"]] == [("Do you sponsor visas?", 3)]


def test_report_without_a_database_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite3"
    result = CliRunner().invoke(app, ["report", "--db", str(missing)])
    assert result.exit_code == 0
    assert "No feedback recorded yet" in result.output
    assert not missing.exists()  # reporting never creates the database
    result = CliRunner().invoke(app, ["report", "--help"])
    assert result.exit_code == 0 and "could not answer" in result.output


def test_answer_ids_bind_votes_to_replies_the_server_gave(tmp_path):
    from assistant.feedback import AnswerSigner

    db = tmp_path / "var" / "feedback.sqlite3"
    signer = AnswerSigner.for_store(None, db)
    key_file = db.with_suffix(".key")
    assert key_file.is_file() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert AnswerSigner.for_store(None, db).key == signer.key  # kept across restarts
    cited = [{"n": 1, "source": "role.txt", "section": "Pay", "text": "- $100"}]
    first, second = signer.sign("q", "a [1]", cited), signer.sign("q", "a [1]", cited)
    assert first != second  # one id per reply given
    assert signer.verify(first, "q", "a [1]", cited) and signer.verify(second, "q", "a [1]", cited)
    assert not signer.verify(first, "q", "a different answer", cited)
    assert not signer.verify(first, "q", "a [1]", [])
    assert not signer.verify(None, "q", "a [1]", cited)
    assert not AnswerSigner(b"other replica key").verify(first, "q", "a [1]", cited)
    # a forged id with non-ASCII characters is refused, not a TypeError (found by hypothesis)
    assert not signer.verify("é." + first, "q", "a [1]", cited)
    assert not signer.verify("\ud800.x", "q", "a [1]", cited)
    store = FeedbackStore(db)
    store.record("down", "q", "a [1]", cited, answer_id=first)
    store.record("up", "q", "a [1]", cited, answer_id=first)  # changed their mind
    store.record("down", "q", "a [1]", cited, answer_id=second)
    assert store.counts() == {"up": 1, "down": 1, "abstained": 0}
