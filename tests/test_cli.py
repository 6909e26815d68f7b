"""The command line: real `assistant` subprocesses, and typer's CliRunner for cheap cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.settings import Settings

ASSISTANT = Path(sys.executable).parent / "assistant"
BAD_BYTES = b"\xff\xfe\x00bad"


def run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ASSISTANT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def dirs(settings: Settings) -> list[str]:
    return ["--corpus-dir", str(settings.corpus_dir), "--index-dir", str(settings.index_dir)]


def invoke(*args: str, **kwargs):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), **kwargs)


@pytest.mark.slow
def test_help(tmp_path):
    top = run("--help", cwd=tmp_path)
    assert top.returncode == 0, top.stderr
    for command in ("index", "ask", "serve"):
        assert command in top.stdout
    index = run("index", "--help", cwd=tmp_path)
    assert index.returncode == 0, index.stderr
    assert "--force" in index.stdout and "--corpus-dir" in index.stdout
    assert "--index-dir" in index.stdout
    ask = run("ask", "--help", cwd=tmp_path)
    assert ask.returncode == 0 and "--json" in ask.stdout and "--history" in ask.stdout
    assert not (tmp_path / "index").exists()  # asking for help builds nothing


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, small_corpus):  # type: ignore[no-untyped-def]
    """A small corpus indexed by a real `assistant index` process."""
    root = tmp_path_factory.mktemp("cli")
    (root / "corpus").mkdir()
    for name, text in small_corpus.items():
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    result = run("index", *dirs(settings), cwd=root)
    return settings, result


@pytest.mark.slow
def test_index_builds_and_then_is_up_to_date(cli_index):
    settings, first = cli_index
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Indexed 3 file(s)" in flat(first.stdout), first.stdout
    assert (settings.index_dir / "current").is_file()
    again = run("index", *dirs(settings), cwd=settings.index_dir.parent)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "up to date" in flat(again.stdout), again.stdout
    assert "nothing re-embedded" in flat(again.stdout), again.stdout


@pytest.mark.slow
def test_ask_json(cli_index):
    settings, _ = cli_index
    result = run("ask", "How big is the annual bonus?", "--json", *dirs(settings),
                 cwd=settings.index_dir.parent)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    reply = json.loads(result.stdout)
    assert reply["abstained"] is False
    assert "Annual bonus: up to 15% of base salary" in reply["answer"]
    citation = reply["citations"][0]
    assert {"n", "source", "section", "text"} <= set(citation)
    assert citation["n"] == 1 and citation["source"] == "pay.md"
    assert "15%" in citation["text"]
    assert reply["contexts"]
    assert {"text", "source", "section", "score"} <= set(reply["contexts"][0])


@pytest.mark.slow
def test_ask_empty_question_fails_cleanly(cli_index):
    settings, _ = cli_index
    result = run("ask", "", *dirs(settings), cwd=settings.index_dir.parent)
    assert result.returncode != 0
    assert "Please type a question" in flat(result.stderr), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout.strip() == ""


@pytest.mark.slow
def test_ask_builds_a_missing_index(make_corpus):
    settings = make_corpus()
    result = invoke("ask", "How many days of paid vacation do I get?", *dirs(settings))
    assert result.exit_code == 0, result.output
    assert "Twenty days of paid vacation each year" in flat(result.output)
    assert "benefits.txt" in result.output  # the sources are listed
    assert (settings.index_dir / "current").is_file()


@pytest.mark.slow
def test_ask_empty_question_does_not_build_an_index(make_corpus):
    settings = make_corpus()
    result = invoke("ask", "", *dirs(settings))
    assert result.exit_code != 0
    assert not (settings.index_dir / "current").exists()


def test_unreadable_history_file_is_a_clear_error(tmp_path):
    result = invoke("ask", "What does the role pay?", "--history", str(tmp_path / "nope.json"),
                    "--corpus-dir", str(tmp_path), "--index-dir", str(tmp_path / "index"))
    assert result.exit_code == 1
    assert "Cannot read history file" in flat(result.output)
    assert not isinstance(result.exception, (ValueError, OSError))


def test_invalid_settings_are_a_clear_error(tmp_path):
    result = invoke("index", "--corpus-dir", str(tmp_path), env={"ASSISTANT_TOP_K": "0"})
    assert result.exit_code == 2
    assert "Invalid settings" in flat(result.output)
    assert "top_k" in result.output


@pytest.mark.slow
def test_index_warns_about_unreadable_files(make_corpus, small_files):
    settings = make_corpus({**small_files, "broken.txt": BAD_BYTES})
    result = invoke("index", *dirs(settings))
    assert result.exit_code == 1  # the index is built, but the problem is not hidden
    assert "broken.txt" in result.output and "UTF-8" in result.output
    assert "Indexed 3 file(s)" in flat(result.output)
    assert (settings.index_dir / "current").is_file()
