"""assistant/server.py: the HTTP API, limits, origins, metrics and the Gradio app over real HTTP.

Unit tests of the small parts (origins, rate limiter, gate) run without the model; the rest
talk to the real app served by uvicorn on loopback, answering from the real role index.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from typing import Any

import httpx
import pytest

from assistant.server import Busy, Gate, Origins, RateLimiter, snippets
from assistant.texts import load_texts
from assistant.web.embed import chat_url

pytest_plugins = ["conftest_server"]

TEXTS = load_texts()


# ---------------------------------------------------------------------------------------------
# small parts, no server


def test_origins_follow_csp_source_syntax() -> None:
    origins = Origins(["http://127.0.0.1:*", "https://careers.example.com", "https://*.acme.org",
                       "http://localhost:8080"])
    assert origins.allows("http://127.0.0.1:5173")
    assert origins.allows("http://127.0.0.1")
    assert origins.allows("https://careers.example.com")
    assert not origins.allows("https://careers.example.com:8443")  # no port: default port only
    assert not origins.allows("http://careers.example.com")  # scheme matters
    assert origins.allows("https://jobs.acme.org")
    assert not origins.allows("https://acme.org")
    assert not origins.allows("https://evil-acme.org")
    assert origins.allows("http://localhost:8080")
    assert not origins.allows("http://localhost:8081")
    assert not origins.allows("https://careers.example.com.evil.com")
    assert origins.allows(None)  # not a browser page: CORS does not apply
    assert origins.frame_ancestors == ("frame-ancestors 'self' http://127.0.0.1:* "
                                       "https://careers.example.com https://*.acme.org "
                                       "http://localhost:8080")
    anyone = Origins(["*"])
    assert anyone.allows("https://whatever.example") and anyone.frame_ancestors.endswith("*")


def test_settings_validate_hr_options() -> None:
    from pydantic import ValidationError

    from assistant.settings import Settings

    settings = Settings(accent_color="#ABC", allowed_origins=["HTTPS://Careers.Example.com/"],
                        public_url="https://chat.example.com/")
    assert settings.accent_color == "#aabbcc"
    assert settings.allowed_origins == ["https://careers.example.com"]
    assert settings.public_url == "https://chat.example.com"
    for bad in ({"accent_color": "blue"}, {"allowed_origins": ["https://x.com/jobs"]},
                {"allowed_origins": ["careers.example.com"]}, {"public_url": "chat.example"}):
        with pytest.raises(ValidationError):
            Settings(**bad)


def test_rate_limiter_uses_a_sliding_window() -> None:
    limiter = RateLimiter(3, window=1)
    assert [limiter.hit("a") for _ in range(3)] == [0, 0, 0]
    wait = limiter.hit("a")
    assert wait == 1  # seconds until the window lets "a" in again
    assert limiter.hit("b") == 0  # clients are counted apart
    deadline = time.monotonic() + 10
    while limiter.hit("a"):  # the window slides: "a" may ask again
        assert time.monotonic() < deadline, "the window never slid"
    assert RateLimiter(0).hit("a") == 0  # 0 means no limit
    assert RateLimiter(2).hit("a") == 0 and RateLimiter(2).hit("a") == 0  # own memory each


def test_gate_limits_concurrency_and_fails_fast_when_full() -> None:
    async def scenario() -> list[str]:
        gate = Gate(limit=1, max_waiting=1, timeout=0.3, message="busy")
        results: list[str] = []

        async def job(name: str, hold: float) -> None:
            try:
                async with gate.slot():
                    await asyncio.sleep(hold)
                results.append(name)
            except Busy as exc:
                results.append(f"{name}:{exc.message}")

        await asyncio.gather(job("first", 0.5), job("waits-too-long", 0),
                             job("queue-full", 0))
        return results

    results = asyncio.run(scenario())
    assert "queue-full:busy" in results  # refused at once: one running, one waiting
    assert "waits-too-long:busy" in results  # timed out after 0.3 s behind a 0.5 s job
    assert "first" in results


def test_snippets_point_at_the_server() -> None:
    s = snippets("https://chat.example.com", 'Ask "us"')
    assert s.script == '<script src="https://chat.example.com/widget.js" async></script>'
    assert '<gradio-app src="https://chat.example.com/"></gradio-app>' in s.web_component
    assert 'src="https://chat.example.com/gradio.js"' in s.web_component
    assert 'title="Ask &quot;us&quot;"' in s.iframe


def test_the_embedded_chat_follows_widget_theme() -> None:
    base = "https://chat.example.com"
    # "system": no __theme, so Gradio follows the candidate's prefers-color-scheme
    assert chat_url(base) == f"{base}/?embed=1"
    assert chat_url(base, "dark") == f"{base}/?embed=1&__theme=dark"
    assert chat_url(base, "light", "a b.md") == f"{base}/?embed=1&__theme=light&scope=a%20b.md"
    system, dark = snippets(base, "Ask"), snippets(base, "Ask", theme="dark")
    assert system.iframe.startswith(f'<iframe src="{base}/?embed=1" ')
    assert f'<gradio-app src="{base}/"></gradio-app>' in system.web_component
    assert dark.iframe.startswith(f'<iframe src="{base}/?embed=1&amp;__theme=dark" ')
    assert f'<gradio-app src="{base}/" theme_mode="dark"></gradio-app>' in dark.web_component
    scoped = snippets(base, "Ask", "a b.md", theme="light")
    assert scoped.iframe.startswith(f'<iframe src="{base}/?embed=1&amp;__theme=light&amp;scope=a%20b.md" ')
    assert (f'<gradio-app src="{base}/?embed=1&amp;scope=a%20b.md" theme_mode="light">'
            in scoped.web_component)
    assert dark.script == system.script  # the widget reads the theme from /widget/config


# ---------------------------------------------------------------------------------------------
# the real server


@pytest.fixture(scope="module")
def http(live_server: Any) -> Any:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        yield client


def ask(http: Any, question: Any, history: Any = None, client_id: str = "tests",
        scope: Any = None, **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"question": question}
    if history is not None:
        body["history"] = history
    if scope is not None:
        body["scope"] = scope
    return http.post("/api/ask", json=body, headers={"X-Client-Id": client_id, **headers})


@pytest.mark.slow
def test_ask_returns_a_cited_answer(http: Any) -> None:
    response = ask(http, "What does the role pay?")
    assert response.status_code == 200, response.text
    reply = response.json()
    assert set(reply) >= {"question", "answer", "abstained", "reason", "citations", "contexts",
                          "query", "latency_ms"}
    assert reply["abstained"] is False
    assert "[1]" in reply["answer"]
    first = reply["citations"][0]
    assert first["n"] == 1 and first["source"] == "senior-machine-learning-scientist.txt"
    assert "Salar" in first["section"] and first["line_start"] <= first["line_end"]
    assert "$" in first["text"]
    assert reply["contexts"] and reply["latency_ms"] > 0


@pytest.mark.slow
def test_ask_uses_history_for_follow_ups(http: Any) -> None:
    first = ask(http, "Which programming languages should I know?").json()
    follow = ask(http, "Tell me more about the first one", history=[
        {"role": "user", "content": "Which programming languages should I know?"},
        {"role": "assistant", "content": first["answer"]},
    ])
    assert follow.status_code == 200
    assert follow.json()["query"] != "Tell me more about the first one"


@pytest.mark.slow
def test_empty_question_is_refused_with_a_helpful_message(http: Any) -> None:
    for question in ("", "   ", "?!"):
        response = ask(http, question)
        assert response.status_code == 422
        assert response.json() == {"error": "invalid_question",
                                   "message": TEXTS["errors"]["empty"]}


@pytest.mark.slow
def test_oversized_question_history_and_body_are_refused(http: Any, live_server: Any) -> None:
    limit = live_server.service.settings.max_question_chars
    response = ask(http, "What does the role pay? " * (limit // 10))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_question"
    assert f"the limit is {limit}" in response.json()["message"]

    history = [{"role": "user", "content": "hi"}] * (
        live_server.service.settings.max_history_messages + 1)
    response = ask(http, "What does the role pay?", history=history)
    assert response.status_code == 422 and "Please start a new chat" in response.json()["message"]

    huge = "x" * (live_server.service.settings.max_request_bytes + 10)
    response = http.post("/api/ask", content=json.dumps({"question": huge}),
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"] == "too_large"

    def chunks() -> Any:  # no Content-Length: the body is counted as it streams in
        for _ in range(40):
            yield b" " * 1024
        yield b'{"question": "pay"}'

    response = http.post("/api/ask", content=chunks(), headers={"Content-Type":
                                                                "application/json"})
    assert response.status_code == 413


@pytest.mark.slow
def test_bad_json_and_wrong_shapes_get_clear_errors(http: Any) -> None:
    response = http.post("/api/ask", content=b'{"question": "pay"',
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_json"
    assert response.json()["message"].startswith("The request body is not valid JSON")

    response = http.post("/api/ask", json={"question": 42})
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    response = http.post("/api/ask", json={"history": []})
    assert response.status_code == 422 and "question" in response.json()["message"]
    response = http.post("/api/ask", json={"question": "pay", "history": [{"role": "system",
                                                                           "content": "x"}]})
    assert response.status_code == 422


@pytest.mark.slow
def test_rate_limit_per_client(server_settings: Any, served_bot: Any) -> None:
    from conftest_server import start

    settings = server_settings.model_copy(update={"rate_limit_per_minute": 2,
                                                  "trust_client_id": False})
    running = start(settings, served_bot)
    try:
        with httpx.Client(base_url=running.url, timeout=60) as client:
            codes = [ask(client, "Is remote work possible?").status_code for _ in range(3)]
            assert codes == [200, 200, 429]
            limited = ask(client, "Is remote work possible?", client_id="someone-else")
            # X-Client-Id is not trusted here: the same IP is the same client
            assert limited.status_code == 429
            body = limited.json()
            assert body["error"] == "rate_limited"
            seconds = int(limited.headers["Retry-After"])
            assert 1 <= seconds <= 60
            assert body["message"] == TEXTS["errors"]["rate_limited"].format(seconds=seconds)
            metrics = client.get("/metrics").text
            assert 'assistant_requests_total{channel="api",outcome="rate_limited"} 2.0' in metrics
    finally:
        running.stop()


@pytest.mark.slow
def test_trusted_client_ids_are_limited_apart(server_settings: Any, served_bot: Any) -> None:
    from conftest_server import start

    settings = server_settings.model_copy(update={"rate_limit_per_minute": 1})
    running = start(settings, served_bot)
    try:
        with httpx.Client(base_url=running.url, timeout=60) as client:
            assert ask(client, "Is remote work possible?", client_id="a").status_code == 200
            assert ask(client, "Is remote work possible?", client_id="a").status_code == 429
            assert ask(client, "Is remote work possible?", client_id="b").status_code == 200
    finally:
        running.stop()


class SlowBot:
    """The real assistant, answering half a second later (to fill the queue on purpose)."""

    def __init__(self, inner: Any, delay: float):
        self.inner, self.delay = inner, delay
        self.settings, self.topics = inner.settings, inner.topics
        self.documents = inner.documents

    def ask(self, question: str, history: Any = None, scope: Any = None) -> Any:
        time.sleep(self.delay)  # the slow backend this fake stands for, not a test's wait
        return self.inner.ask(question, history, scope)


@pytest.mark.slow
def test_busy_server_answers_busy_instead_of_hanging(server_settings: Any,
                                                     served_bot: Any) -> None:
    from conftest_server import start

    settings = server_settings.model_copy(update={
        "queue_concurrency": 1, "queue_max_size": 1, "queue_timeout_seconds": 0.4})
    running = start(settings, SlowBot(served_bot, 0.8))
    try:
        results: list[httpx.Response] = []

        def one(i: int) -> None:
            with httpx.Client(base_url=running.url, timeout=30) as client:
                results.append(ask(client, "Is remote work possible?", client_id=f"c{i}"))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        codes = sorted(r.status_code for r in results)
        assert codes.count(200) >= 1 and 503 in codes, codes
        busy = next(r for r in results if r.status_code == 503)
        assert busy.json() == {"error": "busy", "message": TEXTS["errors"]["busy"]}
        assert busy.headers["Retry-After"]
        assert elapsed < 5  # nobody hung
    finally:
        running.stop()


@pytest.mark.slow
def test_abstentions_and_feedback_are_stored_and_counted(http: Any, live_server: Any) -> None:
    store = live_server.service.store
    before = store.counts()
    response = ask(http, "Do you sponsor work visas for candidates from abroad?")
    assert response.status_code == 200 and response.json()["abstained"] is True
    answered = ask(http, "Is remote work possible?").json()
    response = http.post("/api/feedback", json={
        "rating": "down", "question": "Is remote work possible?", "answer": answered["answer"],
        "citations": answered["citations"], "answer_id": answered["answer_id"]})
    assert response.status_code == 204
    after = store.counts()
    assert after["abstained"] == before["abstained"] + 1
    assert after["down"] == before["down"] + 1
    latest = store.events("down", limit=1)[0]
    assert latest["question"] == "Is remote work possible?"
    assert latest["citations"][0]["n"] == 1
    gaps = [g.question for g in store.gaps()]
    assert "Do you sponsor work visas for candidates from abroad?" in gaps
    # small talk is answered in kind and is no content gap
    hello = ask(http, "hi there!").json()
    assert hello["abstained"] is True and hello["reason"] == "small_talk"
    assert store.counts()["abstained"] == after["abstained"]

    assert http.post("/api/feedback", json={"rating": "meh", "question": "x"}).status_code == 422
    metrics = http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for name in ("assistant_requests_total", "assistant_request_latency_seconds_bucket",
                 "assistant_abstentions_total", "assistant_feedback_total",
                 "assistant_errors_total", "assistant_questions_in_progress"):
        assert name in text
    assert 'assistant_feedback_total{channel="api",rating="down"}' in text


@pytest.mark.slow
def test_ask_within_a_scope_and_the_documents_to_scope_to(http: Any) -> None:
    documents = http.get("/api/documents")
    assert documents.status_code == 200
    [doc] = documents.json()
    assert doc["source"] == "senior-machine-learning-scientist.txt"
    assert doc["title"] == "Senior Machine Learning Scientist"
    assert "Salary Ranges (US Market, 2024)" in doc["topics"]
    scoped = ask(http, "Is remote work possible?", scope=doc["source"])
    assert scoped.status_code == 200, scoped.text
    reply = scoped.json()
    assert not reply["abstained"]
    assert {c["source"] for c in reply["contexts"]} == {doc["source"]}
    assert reply["citations"][0]["title"] == doc["title"]
    assert reply["citations"][0]["section"].startswith(doc["title"] + " > ")
    unknown = ask(http, "Is remote work possible?", scope="astronaut.md")
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "invalid_question"
    assert "astronaut.md" in unknown.json()["message"]
    assert doc["source"] in unknown.json()["message"]


@pytest.mark.slow
def test_health_and_openapi(http: Any) -> None:
    health = http.get("/api/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert "Salary Ranges (US Market, 2024)" in health.json()["topics"]
    schema = http.get("/api/openapi.json").json()
    ask_op = schema["paths"]["/api/ask"]["post"]
    assert ask_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "AskRequest")
    assert {"200", "400", "413", "422", "429", "503"} <= set(ask_op["responses"])
    assert "/api/health" in schema["paths"] and "/api/feedback" in schema["paths"]
    assert set(schema["components"]["schemas"]["AskReply"]["properties"]) >= {
        "answer", "abstained", "reason", "citations", "contexts"}


@pytest.mark.slow
def test_origins_are_enforced_by_csp_and_cors(http: Any, host_ports: dict[str, int]) -> None:
    allowed = f"http://127.0.0.1:{host_ports['allowed']}"
    refused = f"http://127.0.0.1:{host_ports['refused']}"
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == f"frame-ancestors 'self' {allowed}"

    def preflight(origin: str) -> httpx.Response:
        return http.options("/api/ask", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})

    assert preflight(allowed).headers.get("access-control-allow-origin") == allowed
    assert "access-control-allow-origin" not in preflight(refused).headers
    ok = ask(http, "Is remote work possible?", Origin=allowed)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == allowed
    no = ask(http, "Is remote work possible?", Origin=refused)
    assert no.status_code == 403 and no.json()["error"] == "origin_refused"
    assert "access-control-allow-origin" not in no.headers
    config = http.get("/widget/config", headers={"Origin": refused})
    assert config.status_code == 403
    config = http.get("/widget/config", headers={"Origin": allowed})
    assert config.status_code == 200 and config.json()["accent_color"] == "#0f766e"
    assert config.headers["access-control-allow-origin"] == allowed


@pytest.mark.slow
def test_embed_page_and_widget_assets(http: Any, live_server: Any) -> None:
    page = http.get("/embed")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    base = live_server.url
    assert f"&lt;script src=&quot;{base}/widget.js&quot; async&gt;&lt;/script&gt;" in html
    assert f"&lt;gradio-app src=&quot;{base}/&quot;&gt;&lt;/gradio-app&gt;" in html
    assert f"&lt;iframe src=&quot;{base}/?embed=1&quot;" in html  # widget_theme "system"
    config = http.get("/widget/config").json()  # the widget's frame: the same, and its panel
    assert config["chat_url"] == f"{base}/?embed=1" and config["theme"] == "system"
    assert "Ask about the ML Scientist role" in html and "#0f766e" in html
    # one snippet per role document, scoped to it
    assert ("&lt;script src=&quot;" + base + "/widget.js&quot; data-scope=&quot;"
            "senior-machine-learning-scientist.txt&quot; async&gt;") in html
    assert "Senior Machine Learning Scientist" in html
    assert "$" not in html.replace("$(", "")  # every template field was filled
    widget = http.get("/widget.js")
    assert widget.headers["content-type"].startswith("text/javascript")
    assert "document.currentScript" in widget.text
    assert http.get("/widget.css").headers["content-type"].startswith("text/css")
    loader = http.get("/gradio.js")
    assert loader.status_code == 200 and "assets/index-" in loader.text
    assert http.get("/gradio.js").headers["content-type"].startswith("text/javascript")


@pytest.mark.slow
def test_public_url_and_widget_theme_are_used_in_snippets(server_settings: Any,
                                                          served_bot: Any) -> None:
    from conftest_server import start

    running = start(server_settings.model_copy(update={"public_url": "https://chat.example.com",
                                                       "widget_theme": "dark"}), served_bot)
    try:
        html = httpx.get(f"{running.url}/embed", timeout=30).text
        assert "https://chat.example.com/widget.js" in html
        assert "&lt;iframe src=&quot;https://chat.example.com/?embed=1&amp;amp;__theme=dark" in html
        assert "theme_mode=&quot;dark&quot;" in html and "always dark" in html
        config = httpx.get(f"{running.url}/widget/config", timeout=30).json()
        assert config["chat_url"] == "https://chat.example.com/?embed=1&__theme=dark"
        assert config["theme"] == "dark"
    finally:
        running.stop()


@pytest.mark.slow
def test_gradio_client_gets_an_answer_with_citations(live_server: Any) -> None:
    from gradio_client import Client

    client = Client(live_server.url, verbose=False)
    reply = client.predict("What does the role pay?", [], "", api_name="/ask")
    assert reply["question"] == "What does the role pay?" and not reply["abstained"]
    assert "[1]" in reply["answer"] and "$164,034" in reply["answer"]
    first = reply["citations"][0]
    assert first["section"].startswith("Senior Machine Learning Scientist > Industry Trends")
    assert first["line_start"] == 180 and reply["answer_id"]

    # a follow-up is resolved against the history sent with it
    history = [{"role": "user", "content": reply["question"]},
               {"role": "assistant", "content": reply["answer"]}]
    follow = client.predict("and the second one?", history, "", api_name="/ask")
    assert follow["query"] != "and the second one?"


@pytest.mark.slow
def test_gradio_queue_is_limited_and_not_shared(live_server: Any) -> None:
    settings = live_server.service.settings
    blocks = live_server.app.state.blocks
    assert blocks._queue.max_size == settings.queue_max_size
    ask_fn = next(fn for fn in blocks.fns.values() if fn.api_name == "ask")
    assert ask_fn.concurrency_limit == "default"
    assert blocks._queue.default_concurrency_limit == settings.queue_concurrency
    assert blocks.share is not True
    config = httpx.get(f"{live_server.url}/config", timeout=30).json()
    assert not config.get("share_url")


@pytest.mark.slow
def test_gradio_api_reports_limits_as_friendly_errors(server_settings: Any,
                                                      served_bot: Any) -> None:
    from conftest_server import start
    from gradio_client import Client

    # rate limit: the second question within the minute gets the rate-limit text
    running = start(server_settings.model_copy(update={"rate_limit_per_minute": 1}), served_bot)
    try:
        client = Client(running.url, verbose=False)
        client.predict("Is remote work possible?", [], "", api_name="/ask")
        with pytest.raises(Exception, match="faster than I can answer"):
            client.predict("What does the role pay?", [], "", api_name="/ask")
    finally:
        running.stop()

    # busy: while an API question holds the only slot, the chat says so instead of hanging
    settings = server_settings.model_copy(update={"queue_concurrency": 1,
                                                  "queue_timeout_seconds": 0.3})
    running = start(settings, SlowBot(served_bot, 3))
    try:
        holder = threading.Thread(target=lambda: httpx.post(
            f"{running.url}/api/ask", json={"question": "Is remote work possible?"}, timeout=30))
        holder.start()
        deadline = time.monotonic() + 20
        while httpx.get(f"{running.url}/api/health", timeout=10).json()["answering"] < 1:
            assert time.monotonic() < deadline, "the first question never started"
        with pytest.raises(Exception, match=re.escape(TEXTS["errors"]["busy"])):
            Client(running.url, verbose=False).predict("What does the role pay?", [], "",
                                                       api_name="/ask")
        holder.join()
    finally:
        running.stop()
