"""Crash safety: `assistant index` killed with SIGKILL at random moments while a server answers.

A real `assistant index` process runs on a small corpus that changes before every run (files
renamed, which re-embeds nothing, so runs are quick; now and then a line edited or a file
restored, which loads the model and embeds), and is killed with SIGKILL at least KILLS times:
at a random moment of its run, at a random moment after it starts writing a build, or right
after it switched the pointer (while it removes old builds). Meanwhile a server (the real app on
loopback, the assistant it serves reloading each new build) is asked questions without pause.

What must hold: every answer during and after comes from one complete version of the corpus
that a run put in service (each version has its own file names, so a reply's sources name its
version; its quoted text is that version's); the documents the server lists are exactly such a
version's; after every run the build in service is complete; build folders never pile up (at
most the one in service, the one before it and the one being written); and the next run
finishes cleanly. The seed is printed and taken from CRASH_SEED when set.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest_server import start_chroma

from assistant.index import Store, open_index
from assistant.settings import Settings

pytest_plugins = ["conftest_server"]
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
KILLS = {"local": 20, "chroma-server": 8}  # kills per store (the server run is slower)
QUESTIONS = ["What is the base salary?", "How many days of paid vacation are there?",
             "How is conference travel booked?", "Is there an annual bonus?"]


def version_files(v: int) -> dict[str, str]:
    """The corpus at version v: file names carry the version (renamed files re-embed nothing);
    the salary changes every 12th version and the travel document is away for 8 versions in 16
    (a new salary line and the travel document's return need embedding)."""
    salary = f"${120 + v // 12},000"
    files = {
        f"pay-r{v}.md": ("# Pay\n\nThe pay of the role is reviewed every spring.\n\n## Salary\n"
                         f"- Base salary: {salary} per year\n"
                         "- Annual bonus: up to 15% of base salary\n"),
        f"benefits-r{v}.txt": ("Benefits\n- Twenty days of paid vacation each year\n"
                               "- Health insurance covers dental care\n"),
    }
    if (v // 8) % 2 == 0:
        files[f"travel-r{v}.md"] = ("# Travel\n- Conference travel is booked through the office\n"
                                    "- Economy flights for trips shorter than six hours\n")
    return files


def write_version(corpus: Path, v: int) -> None:
    for old in corpus.iterdir():
        old.unlink()
    for name, text in version_files(v).items():
        (corpus / name).write_text(text, encoding="utf-8")


def flat(text: str) -> str:
    """Text without list marks and Markdown emphasis, whitespace collapsed, lower case."""
    text = re.sub(r"(?m)^\s*(?:[-*]|\d+\.)\s+", "", text).replace("**", "")
    return " ".join(text.split()).lower()


def from_version(reply: dict[str, Any], v: int) -> bool:
    """Whether every passage a reply cites or retrieved is version v's own text."""
    files = {name: flat(text) for name, text in version_files(v).items()}
    for passage in reply["citations"] + reply["contexts"]:
        if passage["source"] not in files:
            return False
        lines = [flat(line) for line in passage["text"].splitlines() if flat(line)]
        if not all(line in files[passage["source"]] for line in lines):
            return False
    return True


def version_of_manifest(manifest: dict[str, Any], upto: int) -> int | None:
    """The corpus version a build's manifest records exactly (every file and its sha256)."""
    for v in range(upto + 1):
        expected = {name: hashlib.sha256(text.encode()).hexdigest()
                    for name, text in version_files(v).items()}
        if manifest.get("files") == expected:
            return v
    return None


def builds(settings: Settings) -> list[str]:
    """The builds in the store: folders under index/builds, or a Chroma server's collections
    (half-written ones included)."""
    return Store(settings).builds()


@dataclass
class Asker:
    """A client asking the server without pause, recording every reply and document list."""

    url: str
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    documents: list[tuple[int, list[str]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            n = 0
            while not self.stop.is_set():
                question = QUESTIONS[n % len(QUESTIONS)]
                n += 1
                try:
                    answer = client.post("/api/ask", json={"question": question})
                    listed = client.get("/api/documents")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{question!r}: {type(exc).__name__}: {exc}")
                    continue
                for response in (answer, listed):
                    if response.status_code != 200:
                        self.failures.append(f"{response.request.url.path} -> "
                                             f"{response.status_code}: {response.text[:300]}")
                if answer.status_code == 200:
                    self.replies.append((answer.status_code, answer.json()))
                if listed.status_code == 200:
                    self.documents.append((200, sorted(d["source"] for d in listed.json())))


def index_env(settings: Settings) -> dict[str, str]:
    """The environment of an `assistant index` process: the worktree's package, the store."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if settings.chroma_host:
        env.update(ASSISTANT_CHROMA_HOST=settings.chroma_host,
                   ASSISTANT_CHROMA_PORT=str(settings.chroma_port))
    return env


def run_index(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """A real `assistant index` process (the worktree's package, not an installed one)."""
    env = index_env(settings)
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "index", "--corpus-dir",
             str(settings.corpus_dir), "--index-dir", str(settings.index_dir)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def pointer_stamp(settings: Settings) -> str | None:
    """The build in service (every build has a name of its own)."""
    return Store(settings).current()


def kill_at(proc: subprocess.Popen[bytes], settings: Settings, mode: str, rng: random.Random,
            expected: float) -> bool:
    """Kill `proc` at the moment `mode` picks; False if it finished first."""
    deadline = time.monotonic() + expected * 3 + 60
    if mode == "random":  # any moment of a run: imports, reading, embedding, writing, switching
        try:
            proc.wait(timeout=rng.uniform(0, expected))
            return False
        except subprocess.TimeoutExpired:
            pass
    else:
        before, stamp = set(builds(settings)), pointer_stamp(settings)
        while proc.poll() is None:
            assert time.monotonic() < deadline, f"index run did not reach the {mode} moment"
            if mode == "writing" and set(builds(settings)) - before:
                time.sleep(rng.uniform(0, 0.3))  # somewhere in the writing of the new build
                break
            if mode == "switched" and pointer_stamp(settings) != stamp:
                break  # put in service; now removing old builds
            time.sleep(0.002)
        else:
            return False
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("store", ["local", "chroma-server"])
def test_killed_index_runs_never_put_a_partial_build_in_service(tmp_path: Path, embeddings: Any,
                                                                store: str) -> None:
    from conftest import free_port

    seed = int(os.environ.get("CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    print(f"\ncrash test seed {seed} (CRASH_SEED={seed} repeats it), {store}")
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    chroma = None
    if store == "chroma-server":  # the same guarantees on a real `chroma run`
        port = free_port()
        chroma = start_chroma(tmp_path / "chroma-data", port, tmp_path / "chroma.log")
        settings = settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": port})
    try:
        run_crashes(settings, tmp_path, embeddings, seed, rng, KILLS[store])
    finally:
        if chroma is not None:
            chroma.stop()


def run_crashes(settings: Settings, tmp_path: Path, embeddings: Any, seed: int,
                rng: random.Random, kills_wanted: int) -> None:
    """KILLS runs killed (and some finished) while a server answers; see the module docstring."""
    from conftest_server import start

    from assistant.core import Assistant

    settings.corpus_dir.mkdir()
    write_version(settings.corpus_dir, 0)
    logs = tmp_path / "logs"
    logs.mkdir()

    started = time.monotonic()
    first = run_index(settings, logs / "run-0.log")
    assert first.wait(timeout=300) == 0, (logs / "run-0.log").read_text()
    durations = {"embeds": time.monotonic() - started}
    served = {0}  # versions a run put in service
    in_service = 0

    bot = Assistant.from_settings(settings, embeddings=embeddings, build_if_missing=False)
    running = start(settings.model_copy(update={
        "rate_limit_per_minute": 0, "feedback_db": tmp_path / "feedback.sqlite3"}), bot)
    asker = Asker(running.url)
    thread = threading.Thread(target=asker.run, name="asker", daemon=True)
    thread.start()
    kills: dict[str, int] = {"random": 0, "writing": 0, "switched": 0}
    modes: list[str] = []  # kill moments in shuffled rounds, so that each kind comes up
    completed = 0
    v = 0
    try:
        while sum(kills.values()) < kills_wanted:
            assert time.monotonic() - started < 600, f"too slow (seed {seed})"
            v += 1
            write_version(settings.corpus_dir, v)
            # a text the build in service lacks needs the model: a run of another length
            new_texts = set(version_files(v).values()) - set(version_files(in_service).values())
            kind = "embeds" if new_texts else "reuses"
            log = logs / f"run-{v}.log"
            proc = run_index(settings, log)
            run_started = time.monotonic()
            if rng.random() < 0.25:  # some runs finish: the index moves on
                mode = "none"
                assert proc.wait(timeout=300) == 0, log.read_text()
            else:
                if not modes:
                    modes = ["random", "random", "writing", "switched"]
                    rng.shuffle(modes)
                mode = modes.pop()
                expected = durations.get(kind, durations["embeds"])
                if kill_at(proc, settings, mode, rng, expected):
                    kills[mode] += 1
                else:
                    assert proc.returncode == 0, log.read_text()
                    mode = "none"
            if mode == "none":
                completed += 1
                durations[kind] = time.monotonic() - run_started
                assert "Traceback" not in log.read_text(), log.read_text()
                assert len(builds(settings)) <= 2, (builds(settings), seed)
            # after every run, killed or not: a complete build in service, no pile-up
            manifest = open_index(settings).manifest
            found = version_of_manifest(manifest, v)
            assert found is not None, (f"run {v} ({mode}) left an incomplete build in "
                                       f"service: {manifest.get('files')} (seed {seed})")
            in_service = found
            served.add(in_service)
            assert len(builds(settings)) <= 3, (builds(settings), v, mode, seed)
            print(f"run {v}: {kind}, {mode}, {time.monotonic() - run_started:.1f} s, "
                  f"version {in_service} in service, {len(builds(settings))} build(s)")

        # the next run finishes cleanly, and the one after it has nothing to do
        v += 1
        write_version(settings.corpus_dir, v)
        final = subprocess.run([sys.executable, "-m", "assistant.cli", "index", "--corpus-dir",
                                str(settings.corpus_dir), "--index-dir", str(settings.index_dir)],
                               cwd=ROOT, env=index_env(settings),
                               capture_output=True, text=True, timeout=300)
        assert final.returncode == 0 and "Traceback" not in final.stderr, final.stderr
        assert "is now in service" in final.stdout, final.stdout
        again = subprocess.run([sys.executable, "-m", "assistant.cli", "index", "--corpus-dir",
                                str(settings.corpus_dir), "--index-dir", str(settings.index_dir)],
                               cwd=ROOT, env=index_env(settings),
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and "Index is up to date" in again.stdout, again.stdout
        served.add(v)
        assert version_of_manifest(open_index(settings).manifest, v) == v
        current = Store(settings).current()
        assert len(builds(settings)) <= 2 and current in builds(settings), builds(settings)
        assert not list(settings.index_dir.glob(".*.tmp"))
        snapshots = settings.index_dir / "snapshots"  # a Chroma server's builds, kept per host
        assert not snapshots.is_dir() or len(list(snapshots.iterdir())) <= 2, list(
            snapshots.iterdir())
        # the server moves to the final version by itself
        final_files = sorted(version_files(v))
        deadline = time.monotonic() + 60
        while not asker.documents or asker.documents[-1][1] != final_files:
            assert time.monotonic() < deadline, "the server did not take up the final build"
            assert thread.is_alive(), asker.failures[:3]
            time.sleep(0.05)
        seen_final = len(asker.replies)
        while len(asker.replies) < seen_final + len(QUESTIONS):
            assert time.monotonic() < deadline, "no answers after the final build"
            time.sleep(0.05)
    finally:
        asker.stop.set()
        thread.join(timeout=60)
        running.stop()

    total = time.monotonic() - started
    print(f"crash test: {sum(kills.values())} kills {kills}, {completed} runs completed, "
          f"{v} corpus versions ({len(served)} put in service), {len(asker.replies)} answers "
          f"during the runs, {total:.0f} s (seed {seed})")
    assert not asker.failures, (asker.failures[:5], seed)
    # every answer and every document list is one complete version a run put in service
    for _, reply in asker.replies:
        assert any(from_version(reply, u) for u in served), (reply, seed)
    answered = [r for _, r in asker.replies if not r["abstained"]]
    assert len(answered) >= len(asker.replies) // 2, "the server mostly abstained"
    listed = {tuple(names) for _, names in asker.documents}
    for names in listed:
        assert any(list(names) == sorted(version_files(u)) for u in served), (names, seed)
    assert len(listed) >= 3, "the server never moved to a new build while runs were killed"
    assert sum(kills.values()) >= kills_wanted and min(kills.values()) >= 1, kills
