"""Abuse routes on the public server, probed over real HTTP from loopback as an attacker would:
forged and flooded feedback, anonymous uploads, terminal escapes in HR's report, lone
surrogates, undecodable and over-deep JSON, wrong methods, CDN-dependent docs and a request
body that never arrives."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

pytest_plugins = ["conftest_server"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def http(live_server: Any) -> Any:
    with httpx.Client(base_url=live_server.url, timeout=60,
                      headers={"X-Client-Id": "abuse-tests"}) as client:
        yield client


def answered(http: Any, question: str = "Is remote work possible?") -> dict[str, Any]:
    response = http.post("/api/ask", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


# --- feedback --------------------------------------------------------------------------------

def test_feedback_must_be_about_an_answer_the_server_gave(http: Any, live_server: Any) -> None:
    store = live_server.service.store
    before = store.counts()
    forged = {"rating": "down", "question": "URGENT: send your CV to http://evil.example",
              "answer": "x" * 1000, "citations": []}
    response = http.post("/api/feedback", json=forged)
    assert response.status_code == 422 and response.json()["error"] == "invalid_feedback"
    reply = answered(http)
    tampered = {"rating": "down", "question": forged["question"], "answer": reply["answer"],
                "citations": reply["citations"], "answer_id": reply["answer_id"]}
    assert http.post("/api/feedback", json=tampered).status_code == 422
    assert store.counts() == before
    genuine = {"rating": "down", "question": reply["question"], "answer": reply["answer"],
               "citations": reply["citations"], "answer_id": reply["answer_id"]}
    for _ in range(5):  # voting again on the same answer changes the vote, it does not add one
        assert http.post("/api/feedback", json=genuine).status_code == 204
    assert store.counts()["down"] == before["down"] + 1


def test_feedback_is_rate_limited_per_client(server_settings: Any, served_bot: Any) -> None:
    from conftest_server import start

    running = start(server_settings.model_copy(update={"feedback_per_minute": 3}), served_bot)
    try:
        with httpx.Client(base_url=running.url, timeout=60,
                          headers={"X-Client-Id": "flood"}) as client:
            reply = answered(client)
            body = {"rating": "up", "question": reply["question"], "answer": reply["answer"],
                    "citations": reply["citations"], "answer_id": reply["answer_id"]}
            codes = [client.post("/api/feedback", json=body).status_code for _ in range(6)]
            assert codes[:3] == [204] * 3 and set(codes[3:]) == {429}
            other = client.post("/api/feedback", json=body, headers={"X-Client-Id": "other"})
            assert other.status_code == 204
    finally:
        running.stop()


def test_the_report_prints_questions_as_text_not_markup_or_escapes(tmp_path: Any) -> None:
    from assistant.cli import app
    from assistant.feedback import FeedbackStore

    db = tmp_path / "feedback.sqlite3"
    store = FeedbackStore(db)
    nasty = "[link=http://evil.example]click me[/link] \x1b]8;;http://evil.example\x07hi\x1b[31m"
    store.record("abstained", nasty, reason="not_covered")
    result = CliRunner().invoke(app, ["report", "--db", str(db)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "[link=http://evil.example]click me[/link]" in result.output  # shown literally
    assert "\x1b" not in result.output and "\x07" not in result.output


# --- uploads ---------------------------------------------------------------------------------

def test_anonymous_uploads_are_refused(http: Any) -> None:
    response = http.post("/gradio_api/upload", files={"files": ("big.bin", b"\0" * 200_000)})
    assert response.status_code in (403, 404)
    assert "big.bin" not in response.text


# --- malformed input -------------------------------------------------------------------------

def test_lone_surrogates_are_dropped_not_a_server_error(http: Any) -> None:
    body = '{"question": "what does it pay\\ud800?", "history": [{"role": "user", ' \
           '"content": "hi \\udc80 there"}]}'
    response = http.post("/api/ask", content=body.encode(),
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert "\ud800" not in response.json()["question"]
    only = http.post("/api/ask", content=b'{"question": "\\ud800"}',
                     headers={"Content-Type": "application/json"})
    assert only.status_code == 422 and only.json()["error"] == "invalid_question"


def test_a_surrogate_on_the_command_line_is_a_clear_message(role_settings: Any,
                                                             role_index: Any) -> None:
    from assistant.cli import app

    result = CliRunner().invoke(app, ["ask", "\udcff\udcfe", "--corpus-dir",
                                      str(role_settings.corpus_dir), "--index-dir",
                                      str(role_settings.index_dir)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "Please type a question" in result.output


@pytest.mark.parametrize("body", [b'{"question": "\xff\xfe pay?"}', b"[" * 100_000 + b"]" * 100_000,
                                  b'{"question": "pay?"'])
def test_undecodable_or_too_deep_json_is_bad_json(http: Any, body: bytes) -> None:
    response = http.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 413)
    assert response.json()["error"] in ("bad_json", "too_large")


def test_wrong_methods_get_405_with_allow(http: Any) -> None:
    for path, allowed in (("/api/ask", "POST"), ("/api/feedback", "POST"),
                          ("/api/documents", "GET")):
        response = http.request("DELETE" if allowed == "GET" else "GET", path)
        assert response.status_code == 405, path
        assert allowed in response.headers["allow"]
        assert {"DELETE", "PUT", "PATCH"}.isdisjoint(response.headers["allow"].split(", "))
        assert response.json()["error"] == "method_not_allowed"
    assert http.get("/api/nothing-here").status_code == 404


def test_api_docs_work_offline(http: Any) -> None:
    page = http.get("/api/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "unpkg" not in page.text
    script = next(part.split('"')[1] for part in page.text.split("<script src=")[1:])
    assert http.get(script).status_code == 200


def test_a_body_that_never_arrives_is_cut_off(server_settings: Any, served_bot: Any) -> None:
    from conftest_server import start

    running = start(server_settings.model_copy(update={"request_body_seconds": 1.0}), served_bot)
    try:
        host, port = running.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nContent-Length: 1000\r\n\r\n{\"question\": ")
            started = time.monotonic()
            data = b""
            while b"\r\n\r\n" not in data:  # the server answers although the body is short
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 408"), data[:200]
        assert time.monotonic() - started < 25
        body = data.split(b"\r\n\r\n", 1)[1]
        if body:
            assert json.loads(body.decode(errors="replace") or "{}").get("error", "") in (
                "", "request_timeout")
    finally:
        running.stop()
