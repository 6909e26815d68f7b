"""Scaling out: N stateless app processes, one Chroma server (`chroma run`), one shared rate
limit store (a real redis-server). Everything here is a real process on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest_server import Proc, start_chroma, wait_until

from assistant.index import Store, build_index
from assistant.types import IndexBusy

pytest_plugins = ["conftest_server"]
pytestmark = pytest.mark.slow

QUESTIONS = ["How big is the annual bonus?", "Is remote work possible?", "What does the role pay?"]


def start_app(settings: Any, port: int, log: Path) -> Proc:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir),
           "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_FEEDBACK_DB": str(settings.index_dir / f"feedback-{port}.sqlite3"),
           "ASSISTANT_CHROMA_HOST": "127.0.0.1",
           "ASSISTANT_CHROMA_PORT": str(settings.chroma_port),
           "ASSISTANT_RATE_LIMIT_PER_MINUTE": str(settings.rate_limit_per_minute),
           "ASSISTANT_RATE_LIMIT_STORAGE": settings.rate_limit_storage}
    process = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--port",
                                str(port)], env=env, stdout=log.open("a"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: process.poll() is None and
               httpx.get(f"{url}/api/health", timeout=2).status_code == 200, 180,
               f"the app did not start (see {log})")
    return Proc(process, url)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    from conftest import free_port, stop_process

    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is needed: apt-get install redis-server (.ci/run does it)")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    wait_until(lambda: process.poll() is None and client.ping(), 30, "redis did not start")
    yield f"redis://127.0.0.1:{port}"
    stop_process(process)


def test_replicas_share_one_rate_limit_through_a_shared_store(
        server_settings: Any, served_bot: Any, redis_url: str) -> None:
    from conftest_server import start

    def two_apps(storage: str) -> list[Any]:
        settings = server_settings.model_copy(update={"rate_limit_per_minute": 3,
                                                      "rate_limit_storage": storage,
                                                      "trust_client_id": True})
        return [start(settings, served_bot), start(settings, served_bot)]

    def statuses(apps: list[Any], client: str) -> list[int]:
        out = []
        for i in range(4):  # alternate between the replicas, as a load balancer would
            response = httpx.post(f"{apps[i % 2].url}/api/ask", timeout=60,
                                  headers={"X-Client-Id": client},
                                  json={"question": "Is remote work possible?"})
            out.append(response.status_code)
        return out

    shared = two_apps(redis_url)
    try:
        assert statuses(shared, "candidate-1") == [200, 200, 200, 429]  # one budget of 3
        assert statuses(shared, "candidate-2")[0] == 200  # per client
    finally:
        for app in shared:
            app.stop()
    # the control: per-process memory gives each replica its own budget (what a shared
    # store prevents)
    apart = two_apps("memory://")
    try:
        assert statuses(apart, "candidate-1") == [200, 200, 200, 200]
    finally:
        for app in apart:
            app.stop()


def test_two_app_processes_on_one_chroma_server_answer_alike_and_survive_its_restart(
        make_corpus: Any, tmp_path: Path, embeddings: Any) -> None:
    from conftest import free_port

    chroma_port = free_port()
    data, log = tmp_path / "chroma-data", tmp_path / "chroma.log"
    chroma = start_chroma(data, chroma_port, log)
    apps: list[Proc] = []
    try:
        settings = make_corpus(chroma_host="127.0.0.1", chroma_port=chroma_port,
                               rate_limit_per_minute=1000)
        build_index(settings, embeddings_factory=lambda: embeddings)
        apps = [start_app(settings, free_port(), tmp_path / f"app-{i}.log") for i in range(2)]

        def answers() -> list[list[tuple[str, list[Any]]]]:
            out = []
            for app in apps:
                replies = [httpx.post(f"{app.url}/api/ask", json={"question": q},
                                      timeout=60).json() for q in QUESTIONS]
                out.append([(r["answer"], [(c["source"], c["section"], c["line_start"])
                                           for c in r["citations"]]) for r in replies])
            return out

        first, second = answers()
        assert first == second, "two replicas on one Chroma server answered differently"
        assert "up to 15% of base salary" in first[0][0]

        # the Chroma server restarts (same data): the replicas keep answering afterwards,
        # and while it is down they say so instead of failing with a traceback
        chroma.stop()
        down = httpx.post(f"{apps[0].url}/api/ask", json={"question": QUESTIONS[1]}, timeout=60)
        assert down.status_code == 503, down.text  # unavailable, and it says so
        assert set(down.json()) == {"error", "message"} and "Traceback" not in down.text
        chroma = start_chroma(data, chroma_port, log)
        wait_until(lambda: httpx.post(f"{apps[1].url}/api/ask", json={"question": QUESTIONS[0]},
                                      timeout=60).status_code == 200, 60,
                   "the replica did not answer again after Chroma restarted")
        assert answers() == [first, first]
    finally:
        for app in apps:
            app.stop()
        chroma.stop()


def test_one_writer_on_a_chroma_server_and_a_dead_writers_lock_is_broken(
        make_corpus: Any, tmp_path: Path, embeddings: Any, no_model: Any) -> None:
    from conftest import free_port

    chroma_port = free_port()
    chroma = start_chroma(tmp_path / "chroma-data", chroma_port, tmp_path / "chroma.log")
    try:
        settings = make_corpus(chroma_host="127.0.0.1", chroma_port=chroma_port)
        other_host = settings.model_copy(update={"index_dir": tmp_path / "other-host-index"})
        with Store(settings).writer_lock():  # a build in progress on this host...
            with pytest.raises(IndexBusy, match="Chroma server"):  # ...blocks one elsewhere
                build_index(other_host, embeddings_factory=lambda: embeddings)
        first = build_index(other_host, embeddings_factory=lambda: embeddings)
        assert not first.up_to_date  # released: the other host builds now
        assert Store(settings).builds() == [first.build]  # one build, no duplicate

        # a writer that died holding the lock: the lock is broken once it is stale
        import chromadb

        server = chromadb.HttpClient(host="127.0.0.1", port=chroma_port)
        server.create_collection(f"{settings.collection}-writer-lock",
                                 metadata={"holder": "dead-host:1", "since": time.time() - 60})
        with pytest.raises(IndexBusy, match="dead-host"):
            build_index(settings, embeddings_factory=no_model, force=True)
        stale = settings.model_copy(update={"index_lock_stale_seconds": 30})
        again = build_index(stale, embeddings_factory=lambda: embeddings, force=True)
        assert Store(settings).current() == again.build
        assert f"{settings.collection}-writer-lock" not in {
            c.name for c in server.list_collections()}

        # a writer killed on this host: its lock is broken at once, however fresh
        import socket

        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        server.create_collection(f"{settings.collection}-writer-lock",
                                 metadata={"holder": f"{socket.gethostname()}:{dead.pid}",
                                           "since": time.time()})
        third = build_index(settings, embeddings_factory=lambda: embeddings, force=True)
        assert Store(settings).current() == third.build
    finally:
        chroma.stop()
