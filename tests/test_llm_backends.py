"""The real LLM backends: the shipped SmolLM2-135M GGUF in process (`llamacpp`), and the same
file served by llama.cpp's own OpenAI-compatible server on loopback (`openai`).

A 135M model writes poorly and invents things; these tests check what the product promises
whatever the model writes: every figure in a reply is in what it cites, citations are valid,
text streams as it is made, and a failing backend falls back to quotes with a note.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.core import Assistant
from assistant.grounding import citation_markers, ungrounded_numbers
from assistant.llm import default_gguf, gguf_file_type, requantized
from assistant.types import Reply

if os.environ.get("REQUIRE_LLAMACPP"):  # scripts/test (CI) installs it: a skip would hide a failure
    import llama_cpp  # noqa: F401
else:
    pytest.importorskip("llama_cpp", reason="the llamacpp extra is not installed")
pytestmark = pytest.mark.slow

QUESTIONS = ["What is the average salary?", "Which programming languages do I need?",
             "is the job remote?"]


def grounded(reply: Reply) -> None:
    """What must hold for any reply, whoever wrote it."""
    assert not reply.abstained, reply.answer
    assert ungrounded_numbers(reply.answer, [f"{c.section}\n{c.text}" for c in reply.citations]) \
        == []
    valid = {c.n for c in reply.citations}
    assert citation_markers(reply.answer) and set(citation_markers(reply.answer)) <= valid
    if reply.backend == "extractive":  # the model's text was replaced: say why
        assert reply.fallback in ("unsupported", "timeout", "off_point") and reply.note


def streamed(bot: Assistant, question: str) -> tuple[list[str], Reply]:
    events = list(bot.stream(question))
    final = events[-1]
    assert isinstance(final, Reply)
    return [e for e in events if isinstance(e, str)], final


@pytest.fixture(scope="module")
def local_bot(role_settings, role_index, embeddings) -> Assistant:
    settings = role_settings.model_copy(update={"answerer": "llamacpp",
                                                "llm_timeout_seconds": 120})
    return Assistant.from_settings(settings, embeddings=embeddings, build_if_missing=False)


def shown_while_writing(pieces: list[str], reply: Reply) -> None:
    """What streamed before the final reply passed the guard sentence by sentence: every
    figure in it is in a passage the model was given; a standing answer showed some of it."""
    shown = "".join(pieces)
    assert ungrounded_numbers(shown, [f"{c.section}\n{c.text}" for c in reply.contexts]) == []
    if reply.backend not in ("extractive", ""):
        assert shown.strip()


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_local_model_answers_behind_the_guard(local_bot: Assistant, question: str) -> None:
    pieces, reply = streamed(local_bot, question)
    grounded(reply)
    shown_while_writing(pieces, reply)
    if reply.backend == "llamacpp":
        assert reply.verified


def test_unchecked_streaming_shows_the_model_text_token_by_token(local_bot: Assistant) -> None:
    unchecked = Assistant.from_settings(local_bot.settings.model_copy(
        update={"stream_unchecked": True}), embeddings=local_bot.embeddings,
        build_if_missing=False)
    pieces, reply = streamed(unchecked, QUESTIONS[0])
    assert len(pieces) > 3 and "".join(pieces).strip()  # the model's text, token by token
    grounded(reply)


def test_the_local_model_declines_nothing_the_evidence_decides(local_bot: Assistant) -> None:
    reply = local_bot.ask("Do you sponsor H-1B visas?")
    assert reply.abstained and reply.backend == "extractive" and not reply.removed


def test_the_shipped_model_is_read_from_a_q8_0_copy_made_once(
        role_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = default_gguf()
    copy = requantized(source, role_settings)
    assert copy.parent == tmp_path / "role-assistant" / "models"
    assert gguf_file_type(source) == "3" and gguf_file_type(copy) == "7"
    made = copy.stat().st_mtime_ns
    assert requantized(source, role_settings) == copy and copy.stat().st_mtime_ns == made
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no temporary file left
    assert requantized(copy, role_settings) == copy  # 8 bits already: read as it is


@pytest.mark.parametrize("update", [{"llm_requantize": "none"}, {"llm_requantize_max_mb": 0}])
def test_a_model_is_read_as_it_is_when_told_so_or_too_big(
        role_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update: dict) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert requantized(default_gguf(), role_settings.model_copy(update=update)) == default_gguf()
    assert not (tmp_path / "role-assistant").exists()


def test_a_cache_that_cannot_be_written_reads_the_model_as_it_is(
        role_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # no folder can be made inside a file
    with caplog.at_level("WARNING", logger="assistant.llm"):
        assert requantized(default_gguf(), role_settings) == default_gguf()
    assert "cannot write a q8_0 copy" in caplog.text


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the shipped GGUF on a free loopback port."""
    from conftest import free_port, stop_process

    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf()),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not answer within 120 s")
            time.sleep(0.2)
        yield url
    finally:
        stop_process(process, timeout=20)


def remote_bot(role_settings: Any, embeddings: Any, url: str, **more: Any) -> Assistant:
    settings = role_settings.model_copy(update={"answerer": "openai", "llm_base_url": url,
                                                "llm_timeout_seconds": 120, **more})
    return Assistant.from_settings(settings, embeddings=embeddings, build_if_missing=False)


@pytest.mark.parametrize("question", QUESTIONS[:2])
def test_an_openai_compatible_server_answers_behind_the_guard(
        role_settings, role_index, embeddings, llama_server: str, question: str) -> None:
    bot = remote_bot(role_settings, embeddings, llama_server)
    pieces, reply = streamed(bot, question)
    grounded(reply)
    shown_while_writing(pieces, reply)
    if reply.backend != "extractive":
        assert reply.backend == "openai"


def test_an_unreachable_server_falls_back_to_quotes(role_settings, role_index, embeddings) -> None:
    from conftest import free_port

    bot = remote_bot(role_settings, embeddings, f"http://127.0.0.1:{free_port()}/v1",
                     llm_timeout_seconds=20)
    reply = bot.ask("What is the average salary?")
    assert reply.backend == "extractive" and reply.fallback == "failed"
    assert "$130,819" in reply.answer and "could not be reached" in reply.note
