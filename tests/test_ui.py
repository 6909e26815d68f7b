"""assistant/ui.py: safe rendering, sources, streaming, and the chat in a real browser."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.settings import Settings
from assistant.texts import load_texts
from assistant.types import Citation, Reply
from assistant.ui import message_text, palette, safe_markdown, source_messages

pytest_plugins = ["conftest_server"]

WIDGET = load_texts()["widget"]

# Plain text keeps its characters as written (a Markdown file would have its HTML removed
# when loaded), so this is what reaches the chat: the chat itself must show it as text.
HOSTILE = """Careers site
The careers site explains how applications are handled.
Application portal
- The application portal accepts CV uploads <script>window.__pwned = 1</script> in PDF format
- Portal badges look like <img src=x onerror="window.__pwned = 2"> and ![tracker](http://203.0.113.7/pixel.png)
- Questions go to [the portal team](javascript:window.__pwned=3) or [the help desk](https://example.com/help)
Interviews
- Interviews take place over video in two rounds
"""


# ---------------------------------------------------------------------------------------------
# rendering


def test_safe_markdown_shows_html_as_text_and_drops_images() -> None:
    text = safe_markdown('<script>alert(1)</script> <img src=x onerror="alert(2)"> & co')
    assert "<" not in text
    assert text == ('&lt;script>alert(1)&lt;/script> &lt;img src=x onerror="alert(2)"> '
                    "&amp; co")
    assert safe_markdown("![pixel](http://203.0.113.7/p.png)") == "!\\[pixel](http://203.0.113.7/p.png)"
    assert safe_markdown("![a][ref]").startswith("!\\[")
    assert safe_markdown("[x](javascript:alert(1))") == "[x]\\(javascript:alert(1))"
    assert safe_markdown("[x]( data:text/html,hi)") == "[x]\\( data:text/html,hi)"
    # ordinary answer markdown is untouched
    answer = "**Overview > Work Environment**\n- Hybrid work [1]\n- [Docs](https://example.com)"
    assert safe_markdown(answer) == answer


def test_sources_are_collapsed_numbered_passages() -> None:
    reply = Reply("q", "Hybrid work [1]", False, [
        Citation(1, "role.txt", "Overview > Work Environment", "- Hybrid <b>work</b>\n- Culture",
                 21, 22)], [])
    (message,) = source_messages(reply, WIDGET)
    assert message["role"] == "assistant"
    assert message["metadata"] == {"title": "[1] Overview › Work Environment", "status": "done"}
    assert message["content"] == ("> - Hybrid &lt;b>work&lt;/b>\n> - Culture\n\n"
                                  "*role.txt, lines 21–22*")


def test_message_text_reads_every_content_shape() -> None:
    assert message_text({"content": "a"}) == "a"
    assert message_text({"content": [{"type": "text", "text": "a"}, {"type": "text",
                                                                       "text": "b"}]}) == "ab"
    assert message_text({"content": {"text": "c"}}) == "c"
    assert message_text({"content": None}) == ""


def test_palette_keeps_the_accent_and_builds_shades() -> None:
    shades = palette("#0f766e")
    assert shades["c600"] == "#0f766e"
    assert len(shades) == 11 and all(re.fullmatch(r"#[0-9a-f]{6}", v) for v in shades.values())
    assert shades["c50"] > shades["c600"] > shades["c950"]  # light to dark


def test_hr_settings_override_the_widget_texts() -> None:
    from assistant.server import widget_texts

    texts = load_texts()
    default = widget_texts(Settings(), texts)
    assert default["title"] == WIDGET["title"] and default["examples"] == WIDGET["examples"]
    assert "the recruiting team" in default["disclaimer"]
    custom = widget_texts(Settings(widget_title="Ask Acme", welcome_message="Hello!",
                                   example_questions=["Pay?", " "], contact="jobs@acme.test"),
                          texts)
    assert (custom["title"], custom["welcome"], custom["examples"]) == ("Ask Acme", "Hello!",
                                                                         ["Pay?"])
    assert "jobs@acme.test" in custom["disclaimer"]


# ---------------------------------------------------------------------------------------------
# the chat in Chromium


@pytest.fixture(scope="module")
def hostile_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                   ) -> Any:
    """A server whose only document is full of HTML, scripts and remote images."""
    from conftest_server import start

    from assistant.core import Assistant

    root = tmp_path_factory.mktemp("hostile")
    (root / "corpus").mkdir()
    (root / "corpus" / "careers.txt").write_text(HOSTILE, encoding="utf-8")
    try:
        embeddings = request.getfixturevalue("embeddings")
    except pytest.FixtureLookupError:
        embeddings = None
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index",
                        feedback_db=root / "feedback.sqlite3")
    bot = Assistant.from_settings(settings, embeddings=embeddings)
    running = start(settings, bot)
    yield running
    running.stop()


@pytest.mark.slow
@pytest.mark.browser
def test_answers_render_html_as_text_never_as_markup(browser: Any, hostile_server: Any,
                                                     artifacts: Path) -> None:
    from conftest_server import ask_in_chat
    from selenium.webdriver.common.by import By

    browser.get(hostile_server.url + "/")
    row = ask_in_chat(browser, "What file format does the application portal accept for CV "
                                "uploads?")
    text = row.text
    assert "<script>window.__pwned = 1</script>" in text  # shown, literally
    assert '<img src=x onerror="window.__pwned = 2">' in text
    assert "![tracker](http://203.0.113.7/pixel.png)" in text
    assert "[the portal team](javascript:window.__pwned=3)" in text
    chat = browser.find_element(By.CSS_SELECTOR, "#ra-chat")
    assert chat.find_elements(By.CSS_SELECTOR, ".message-content script") == []
    assert chat.find_elements(By.CSS_SELECTOR, ".message-content img") == []
    links = [a.get_attribute("href") for a in chat.find_elements(By.CSS_SELECTOR,
                                                                   ".message-content a")]
    assert "https://example.com/help" in links  # ordinary links still work...
    assert all(href.startswith(("https://", "http://")) for href in links), links  # ...no js:
    # the quoted passage behind [1] is just as inert
    browser.find_elements(By.CSS_SELECTOR, "#ra-chat .thought-group .title")[0].click()
    time.sleep(0.5)
    assert chat.find_elements(By.CSS_SELECTOR, "script, img") == []
    assert browser.execute_script("return window.__pwned === undefined")
    requested = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert not [u for u in requested if "203.0.113.7" in u]
    browser.save_screenshot(str(artifacts / "chat-hostile-document.png"))
    browser.get("about:blank")  # let the module's server stop without open connections


@pytest.mark.slow
@pytest.mark.browser
def test_chat_examples_sources_feedback_abstention_and_clear(browser: Any, live_server: Any,
                                                             artifacts: Path) -> None:
    from conftest_server import ask_in_chat, wait_for
    from selenium.webdriver.common.by import By

    store = live_server.service.store
    before = store.counts()
    browser.get(live_server.url + "/")
    examples = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ra-chat .example"))
    assert [e.text for e in examples] == WIDGET["examples"]
    assert "Hi! I can answer questions" in browser.find_element(By.CSS_SELECTOR, "#ra-chat").text
    # the question box is labelled for screen readers, not only by its placeholder
    box = browser.find_element(By.CSS_SELECTOR, "#ra-question textarea")
    assert box.accessible_name.startswith(WIDGET["question_label"])

    examples[0].click()  # "What does the role pay?"
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ra-chat .thought-group"),
             60, "no sources after clicking an example")
    row = browser.find_elements(By.CSS_SELECTOR, "#ra-chat .bot-row")[-1]
    assert "[1]" in row.text and "$164,034" in row.text
    title = row.find_element(By.CSS_SELECTOR, ".thought-group .title")
    assert title.text.startswith("[1] Senior Machine Learning Scientist › Industry Trends")
    title.click()  # expand: the quoted passage and where it is
    wait_for(browser, lambda d: "lines 180" in row.text, 10, "source passage did not open")
    browser.save_screenshot(str(artifacts / "chat-answer-with-source.png"))

    browser.find_elements(By.CSS_SELECTOR, "#ra-chat button[aria-label=Dislike]")[-1].click()
    wait_for(browser, lambda d: store.counts()["down"] == before["down"] + 1, 10,
             "the thumbs down was not stored")
    down = store.events("down", limit=1)[0]
    assert down["question"] == "What does the role pay?" and down["citations"][0]["n"] == 1
    # follow-ups drawn from the sections next to the one cited, offered under the answer
    offered = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#ra-chat .option")]
    assert offered and all(o.startswith("Tell me about ") for o in offered), offered

    row = ask_in_chat(browser, "Do you sponsor work visas?")
    assert "I can help with" in row.text or "You could ask me about" in row.text
    assert store.counts()["abstained"] == before["abstained"] + 1
    options = browser.find_elements(By.CSS_SELECTOR, "#ra-chat .option")
    assert [o.text for o in options][-3:] == WIDGET["examples"][:3]
    browser.save_screenshot(str(artifacts / "chat-abstention.png"))

    browser.find_element(By.CSS_SELECTOR, "#ra-clear").click()
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#ra-chat .bot-row"), 10,
             "New chat did not clear the conversation")
    assert browser.find_elements(By.CSS_SELECTOR, "#ra-chat .example")
