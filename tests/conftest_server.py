"""Fixtures for the server, UI and widget tests (a pytest plugin: `pytest_plugins`).

Real parts throughout: the role index built once per session (tests/conftest.py's `bot` when it
is there), the app served by uvicorn on a free loopback port, host pages for the widget served
from other loopback origins, and Debian's headless Chromium driven by Selenium.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    """A uvicorn server in a background thread."""

    url: str
    app: Any
    server: Any
    thread: threading.Thread

    @property
    def service(self) -> Any:
        return self.app.state.service

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(app: Any, port: int | None = None) -> Running:
    """Start `app` on 127.0.0.1 and return once it accepts requests."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.05)
    return Running(f"http://127.0.0.1:{port}", app, server, thread)


def start(settings: Settings, assistant: Any, port: int | None = None) -> Running:
    from assistant.server import create_app

    return serve(create_app(settings, assistant=assistant), port)


class HostPages:
    """A plain static web server for careers-page stand-ins: other origin, same loopback."""

    def __init__(self, folder: Path, port: int):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.folder = folder
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.origin = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def page(self, name: str, body: str, title: str = "Careers at Example",
             viewport: str = "width=device-width, initial-scale=1") -> str:
        """Write a careers page with `body` after its text; return its address. The viewport
        meta is what any careers site has: without it a phone lays the page out 980 px wide
        and scales it down, and the widget's phone layout is never used."""
        (self.folder / name).write_text(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='{viewport}'><title>{title}</title>"
            "<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#fafaf9;"
            "color:#1c1917}header{background:#1c1917;color:#fff;padding:18px 32px;"
            "font-weight:700}main{max-width:760px;margin:32px auto;padding:0 24px}"
            "h1{font-size:28px}</style></head><body><header>Example Corp · Careers</header>"
            "<main><h1>Senior Machine Learning Scientist</h1><p>Join our applied research "
            f"team. Questions about the role? Ask our assistant.</p></main>{body}</body></html>",
            encoding="utf-8")
        return f"{self.origin}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


# ---------------------------------------------------------------------------------------------
# the role assistant, shared with the rest of the suite when tests/conftest.py provides it


@pytest.fixture(scope="session")
def served_bot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real Assistant over the role document for every server test."""
    try:
        return request.getfixturevalue("bot")
    except pytest.FixtureLookupError:
        from assistant.core import Assistant

        root = tmp_path_factory.mktemp("served-role")
        shutil.copytree(ROOT / "corpus", root / "corpus")
        return Assistant.from_settings(Settings(corpus_dir=root / "corpus",
                                                index_dir=root / "index"))


@pytest.fixture(scope="session")
def host_ports() -> dict[str, int]:
    """Ports for the careers-page stand-ins: one allowed to embed the chat, one not."""
    return {"allowed": free_port(), "refused": free_port()}


@pytest.fixture(scope="session")
def server_settings(served_bot: Any, host_ports: dict[str, int],
                    tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The role index's settings with HR options for the tests; only one host page allowed."""
    folder = tmp_path_factory.mktemp("server")
    return served_bot.settings.model_copy(update={
        "feedback_db": folder / "feedback.sqlite3",
        "allowed_origins": [f"http://127.0.0.1:{host_ports['allowed']}"],
        "rate_limit_per_minute": 1000,
        "trust_client_id": True,
        "max_question_chars": 400,
        "max_history_messages": 10,
        "max_request_bytes": 16 * 1024,
        "accent_color": "#0f766e",
        "widget_title": "Ask about the ML Scientist role",
    })


@pytest.fixture(scope="session")
def live_server(server_settings: Settings, served_bot: Any) -> Iterator[Running]:
    """The whole app (chat, API, widget, metrics) on a free loopback port."""
    running = start(server_settings, served_bot)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def host_pages(host_ports: dict[str, int],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, HostPages]]:
    pages = {name: HostPages(tmp_path_factory.mktemp(f"host-{name}"), port)
             for name, port in host_ports.items()}
    yield pages
    for host in pages.values():
        host.stop()


# ---------------------------------------------------------------------------------------------
# the browser


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, with a fresh profile and no background networking."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Chromium and chromedriver are needed: apt-get install chromium "
                    "chromium-driver (.ci/run does it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic", "--disable-dev-shm-usage", "--window-size=1280,900",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(params=[(1280, 900), (390, 844)], ids=["desktop", "phone"])
def width(request: pytest.FixtureRequest, browser: Any) -> Iterator[tuple[int, int]]:
    """The test at a desktop and at a phone viewport."""
    w, h = request.param
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 600})
    yield request.param
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@contextmanager
def network(driver: Any, offline: bool = False, latency_ms: int = 0) -> Iterator[None]:
    """Chromium's network emulation for the block: offline, or with added latency."""
    driver.execute_cdp_cmd("Network.enable", {})
    conditions = {"offline": offline, "latency": latency_ms, "downloadThroughput": -1,
                  "uploadThroughput": -1}
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", conditions)
    try:
        yield
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                               {**conditions, "offline": False, "latency": 0})


def scripted_server(settings: Settings, embeddings: Any, script: str, sleep: float) -> Running:
    """The real retrieval and guard, with LangChain's fake chat model writing `script` for every
    question, streamed `sleep` seconds per piece."""
    from langchain_core.language_models import FakeListChatModel

    from assistant.core import Assistant
    from assistant.generation import GenerativeAnswerer

    model = FakeListChatModel(responses=[script], sleep=sleep)
    answerer = GenerativeAnswerer(settings, model, "fake", embeddings.embed_documents)
    bot = Assistant.from_settings(settings, embeddings=embeddings, answerer=answerer,
                                  build_if_missing=False)
    return start(settings, bot)


def wait_for(driver: Any, condition: Any, timeout: float = 30, message: str = "") -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition, message)


def ask_in_chat(driver: Any, question: str, timeout: float = 60) -> Any:
    """Type a question in the chat of the current frame; return the answer's element once the
    reply is final (the chat marks the answer aria-busy until then)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".rc-box"),
                   message="the chat's question box did not appear")
    before = len(driver.find_elements(By.CSS_SELECTOR, ".rc-turn"))
    box.send_keys(question)
    box.send_keys(Keys.ENTER)

    def answered(d: Any) -> Any:
        turns = d.find_elements(By.CSS_SELECTOR, ".rc-turn")
        if len(turns) <= before:
            return False
        bot = turns[before].find_element(By.CSS_SELECTOR, ".rc-bot")
        return bot if bot.get_attribute("aria-busy") == "false" else False

    return wait_for(driver, answered, timeout, f"no answer to {question!r}")


def chat_turns(driver: Any) -> list[dict[str, Any]]:
    """The conversation as the page shows it: question, answer text, whether it is final."""
    return driver.execute_script("""
        return [...document.querySelectorAll('.rc-turn')].map(t => ({
          question: t.querySelector('.rc-user p').textContent,
          answer: (t.querySelector('.rc-answer') || {}).textContent || '',
          final: t.querySelector('.rc-bot').getAttribute('aria-busy') === 'false',
          error: (t.querySelector('.rc-error') || {}).textContent || ''}));""")


# ---------------------------------------------------------------------------------------------
# a real Chroma server (`chroma run`) for the client/server tests


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.1)  # polling another process: nothing in-process to wait on


@dataclass
class Proc:
    process: subprocess.Popen[Any]
    url: str

    def stop(self) -> None:
        from conftest import stop_process

        stop_process(self.process)


def start_chroma(path: Path, port: int, log: Path) -> Proc:
    process = subprocess.Popen([str(VENV_BIN / "chroma"), "run", "--path", str(path),
                                "--port", str(port)], stdout=log.open("a"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: process.poll() is None and
               httpx.get(f"{url}/api/v2/heartbeat", timeout=1).is_success, 60,
               "chroma run did not start")
    return Proc(process, url)
