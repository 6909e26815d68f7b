"""assistant/ui.py: safe rendering, sources, streaming, and the chat in a real browser."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from assistant.settings import Settings
from assistant.texts import load_texts
from assistant.ui import CLIENT_TEXTS, chat_config, chat_html, palette

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


def test_chat_config_carries_the_texts_scope_and_limits() -> None:
    from types import SimpleNamespace

    settings = Settings(contact="jobs@acme.test", max_question_chars=300)
    texts = load_texts()
    service = SimpleNamespace(
        settings=settings, widget_texts={**WIDGET, "disclaimer": "d"},
        welcome_for=lambda scope=None: f"welcome {scope or 'all'}")
    config = chat_config(service, "role.md")  # type: ignore[arg-type]
    assert config["scope"] == "role.md" and config["texts"]["welcome"] == "welcome role.md"
    assert config["contact"] == "jobs@acme.test" and config["max_chars"] == 300
    assert set(CLIENT_TEXTS) <= set(config["texts"]), "every text the client shows is sent"
    assert texts["widget"]["cite_label"] == config["texts"]["cite_label"]
    # the configuration rides in an attribute: quotes and markup stay inside it
    html = chat_html({"texts": {"welcome": "<b>'hi'</b> & \"you\""}})
    assert "<b>" not in html and "&lt;b&gt;&#x27;hi&#x27;" in html and html.count("'") == 4


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
    bot = ask_in_chat(browser, "What file format does the application portal accept for CV "
                               "uploads?")
    text = bot.find_element(By.CSS_SELECTOR, ".rc-answer").text
    assert "<script>window.__pwned = 1</script>" in text  # shown, literally
    assert '<img src=x onerror="window.__pwned = 2">' in text
    assert "![tracker](http://203.0.113.7/pixel.png)" in text
    assert "[the portal team](javascript:window.__pwned=3)" in text
    chat = browser.find_element(By.CSS_SELECTOR, ".rc")
    assert chat.find_elements(By.CSS_SELECTOR, "script, img, iframe") == []
    links = [a.get_attribute("href") for a in chat.find_elements(By.CSS_SELECTOR,
                                                                   ".rc-answer a")]
    assert "https://example.com/help" in links  # ordinary links still work...
    assert all(href.startswith(("https://", "http://")) for href in links), links  # ...no js:
    # the quoted passage behind [1] is just as inert
    bot.find_element(By.CSS_SELECTOR, ".rc-cite").click()
    source = bot.find_element(By.CSS_SELECTOR, ".rc-source-body")
    assert source.is_displayed() and "<script>" in source.text
    assert chat.find_elements(By.CSS_SELECTOR, "script, img, iframe") == []
    assert browser.execute_script("return window.__pwned === undefined")
    requested = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert not [u for u in requested if "203.0.113.7" in u]
    browser.save_screenshot(str(artifacts / "chat-hostile-document.png"))
    browser.execute_script("localStorage.clear()")
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
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    examples = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".rc-examples "
                                                                              "li > button"))
    assert [e.text for e in examples] == WIDGET["examples"]
    assert "Hi! I can answer questions" in browser.find_element(By.CSS_SELECTOR, ".rc").text
    # the question box is labelled for screen readers, not only by its placeholder
    box = browser.find_element(By.CSS_SELECTOR, ".rc-box")
    assert box.accessible_name == WIDGET["question_label"]

    examples[0].click()  # "What does the role pay?"
    bot = wait_for(browser, lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, ".rc-bot")
                                       if b.get_attribute("aria-busy") == "false"],
                   60, "no answer after clicking an example")[-1]
    answer = bot.find_element(By.CSS_SELECTOR, ".rc-answer").text
    assert "$164,034" in answer
    toggle = bot.find_element(By.CSS_SELECTOR, ".rc-source-toggle")
    # a source names the role (document) and the full section path, and says if it is open
    assert toggle.text.endswith("Senior Machine Learning Scientist › Industry Trends › "
                                "Salary and Compensation")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert toggle.accessible_name.startswith("Source 1:")
    toggle.click()  # expand: the quoted passage and where it is
    body = bot.find_element(By.CSS_SELECTOR, ".rc-source-body")
    wait_for(browser, lambda d: body.is_displayed() and "lines 180" in body.text, 10,
             "source passage did not open")
    assert toggle.get_attribute("aria-expanded") == "true"
    browser.save_screenshot(str(artifacts / "chat-answer-with-source.png"))

    down = bot.find_element(By.CSS_SELECTOR, "button[data-vote=down]")
    down.click()
    wait_for(browser, lambda d: store.counts()["down"] == before["down"] + 1, 10,
             "the thumbs down was not stored")
    wait_for(browser, lambda d: down.get_attribute("aria-pressed") == "true", 10,
             "the vote is not shown as pressed")
    assert WIDGET["feedback_thanks"] in bot.find_element(By.CSS_SELECTOR,
                                                         ".rc-action-status").text
    stored = store.events("down", limit=1)[0]
    assert stored["question"] == "What does the role pay?" and stored["citations"][0]["n"] == 1
    # follow-ups drawn from the sections next to the one cited, offered under the answer
    offered = [o.text for o in bot.find_elements(By.CSS_SELECTOR, ".rc-suggestions button")]
    assert offered and all(o.startswith("Tell me about ") for o in offered), offered

    bot = ask_in_chat(browser, "Do you sponsor work visas?")
    assert "I can help with" in bot.text or "You could ask me about" in bot.text
    assert store.counts()["abstained"] == before["abstained"] + 1
    options = [o.text for o in bot.find_elements(By.CSS_SELECTOR, ".rc-suggestions button")]
    assert options == WIDGET["examples"][:3]
    browser.save_screenshot(str(artifacts / "chat-abstention.png"))

    browser.find_element(By.CSS_SELECTOR, ".rc-new").click()
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, ".rc-turn"), 10,
             "New chat did not clear the conversation")
    assert browser.find_element(By.CSS_SELECTOR, ".rc-welcome").is_displayed()
    browser.refresh()  # and it stays cleared
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".rc-box"))
    assert not browser.find_elements(By.CSS_SELECTOR, ".rc-turn")
