"""The chat client (assistant/static/chat.js) as a candidate meets it, in headless Chromium:
instant questions, queued submits, a box never wiped, kept conversations, answers shown from
their start, clickable [n], clean copy, and honest messages when the server is away."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.core import Assistant
from assistant.texts import load_texts

pytest_plugins = ["conftest_server"]
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.usefixtures("width")]

WIDGET = load_texts()["widget"]
ROLE = "senior-machine-learning-scientist.txt"
# what the scripted model writes for every question (about 2-3 s, streamed slowly)
SCRIPT = "The average annual salary is $130,819 [1]. Salaries range from $164,034 [1]."


def wait_for(*args: Any, **kwargs: Any) -> Any:
    from conftest_server import wait_for as wait

    return wait(*args, **kwargs)


def turns(browser: Any) -> list[dict[str, Any]]:
    from conftest_server import chat_turns

    return chat_turns(browser)


def fresh_chat(browser: Any, url: str) -> Any:
    """The chat page with nothing kept from earlier tests; returns the question box."""
    from selenium.webdriver.common.by import By

    browser.get(url)
    browser.execute_script("localStorage.clear()")
    browser.get(url)
    return wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".rc-box"), 30,
                    "the chat did not load")


@pytest.fixture(scope="module")
def slow_server(role_settings: Any, role_index: Any, embeddings: Any,
                tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real retrieval and guard with a scripted model that takes seconds per answer."""
    from conftest_server import scripted_server

    settings = role_settings.model_copy(update={
        "feedback_db": tmp_path_factory.mktemp("slow") / "feedback.sqlite3",
        "rate_limit_per_minute": 1000})
    running = scripted_server(settings, embeddings, SCRIPT, sleep=0.03)
    yield running
    running.stop()


def test_questions_show_at_once_rapid_submits_queue_and_the_box_keeps_new_text(
        browser: Any, slow_server: Any, artifacts: Path, width: tuple[int, int]) -> None:
    from selenium.webdriver.common.keys import Keys

    box = fresh_chat(browser, slow_server.url + "/")
    box.send_keys("What is the average salary?" + Keys.ENTER)
    # shown at once, before any reply: the question and a typing indicator
    shown = turns(browser)
    assert [t["question"] for t in shown] == ["What is the average salary?"]
    assert not shown[0]["final"] and browser.find_elements("css selector", ".rc-typing")
    # a second question right away is queued, not dropped
    box.send_keys("Is remote work possible?" + Keys.ENTER)
    box.send_keys("and what about")  # typed while the answers are on their way
    labels = browser.execute_script(
        "return [...document.querySelectorAll('.rc-typing-label')].map(e => e.textContent)")
    assert labels[-1] == WIDGET["queued"], labels
    browser.save_screenshot(str(artifacts / f"chat-queued-{width[0]}.png"))
    wait_for(browser, lambda d: len(turns(d)) == 2 and all(t["final"] for t in turns(d)), 90,
             "the queued questions were not both answered")
    done = turns(browser)
    assert [t["question"] for t in done] == ["What is the average salary?",
                                             "Is remote work possible?"]
    assert all(t["answer"] and not t["error"] for t in done), done
    assert box.get_attribute("value") == "and what about"  # never wiped


def test_a_conversation_survives_reloads_and_each_role_keeps_its_own(
        browser: Any, live_server: Any) -> None:
    from conftest_server import ask_in_chat
    from selenium.webdriver.common.by import By

    fresh_chat(browser, live_server.url + "/")
    bot = ask_in_chat(browser, "What does the role pay?")
    up = bot.find_element(By.CSS_SELECTOR, "button[data-vote=up]")
    up.click()
    wait_for(browser, lambda d: up.get_attribute("aria-pressed") == "true", 10)
    box = browser.find_element(By.CSS_SELECTOR, ".rc-box")
    box.send_keys("half-typed")

    browser.refresh()
    wait_for(browser, lambda d: len(turns(d)) == 1 and turns(d)[0]["final"], 30,
             "the conversation did not come back after a reload")
    assert "$164,034" in turns(browser)[0]["answer"]
    bot = browser.find_element(By.CSS_SELECTOR, ".rc-bot")
    assert bot.find_elements(By.CSS_SELECTOR, ".rc-source")  # sources came back too
    assert bot.find_element(By.CSS_SELECTOR, "button[data-vote=up]").get_attribute(
        "aria-pressed") == "true"
    assert browser.find_element(By.CSS_SELECTOR, ".rc-box").get_attribute("value") == \
        "half-typed"
    # a follow-up after the reload still has the conversation behind it
    follow = ask_in_chat(browser, "and the second one?")
    assert follow.find_elements(By.CSS_SELECTOR, ".rc-answer")

    # the role's own posting (?scope=) keeps a separate conversation
    browser.get(f"{live_server.url}/?scope={ROLE}")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".rc-box"), 30)
    assert turns(browser) == []
    ask_in_chat(browser, "Is remote work possible?")
    browser.get(live_server.url + "/")
    wait_for(browser, lambda d: len(turns(d)) == 2, 30)
    assert turns(browser)[0]["question"] == "What does the role pay?"


def test_each_answer_shows_from_its_start_and_markers_open_their_source(
        browser: Any, live_server: Any, artifacts: Path, width: tuple[int, int]) -> None:
    from conftest_server import ask_in_chat
    from selenium.webdriver.common.by import By

    fresh_chat(browser, live_server.url + "/")
    for question in ("Which skills and experience are required?",
                     "What are the core responsibilities?", "How does career progression look?"):
        ask_in_chat(browser, question)
        top, log_top, log_bottom, at_end = browser.execute_script("""
            const turn = [...document.querySelectorAll('.rc-turn')].pop();
            const log = document.querySelector('.rc-log');
            const a = turn.querySelector('.rc-bot').getBoundingClientRect();
            const l = log.getBoundingClientRect();
            return [a.top, l.top, l.bottom,
                    log.scrollTop + log.clientHeight >= log.scrollHeight - 2];""")
        # the answer's first line is in view (not its end with the start scrolled away)
        assert log_top - 1 <= top < log_bottom - 40, (question, top, log_top, log_bottom)
    assert not at_end, "a long answer should not have been scrolled to its end"
    browser.save_screenshot(str(artifacts / f"chat-answer-start-{width[0]}.png"))

    last = browser.find_elements(By.CSS_SELECTOR, ".rc-turn")[-1]
    cite = last.find_element(By.CSS_SELECTOR, ".rc-cite")
    n = cite.get_attribute("data-cite")
    assert cite.accessible_name.startswith(f"Open source {n}: ")
    cite.click()
    item = last.find_element(By.CSS_SELECTOR, f".rc-source[data-n='{n}']")
    toggle = item.find_element(By.CSS_SELECTOR, ".rc-source-toggle")
    wait_for(browser, lambda d: item.find_element(By.CSS_SELECTOR, ".rc-source-body")
             .is_displayed(), 10, "[n] did not open its source")
    assert "rc-flash" in item.get_attribute("class")  # highlighted
    assert toggle.get_attribute("aria-expanded") == "true"
    assert browser.switch_to.active_element == toggle  # keyboard users land on it
    body = item.find_element(By.CSS_SELECTOR, ".rc-source-body").text
    assert ROLE in body and "lines" in body  # the document and where in it


def test_copy_gives_clean_text_with_the_sources_as_a_short_list(
        browser: Any, live_server: Any) -> None:
    from conftest_server import ask_in_chat
    from selenium.webdriver.common.by import By

    fresh_chat(browser, live_server.url + "/")
    bot = ask_in_chat(browser, "What does the role pay?")
    # what reaches the clipboard, caught at the browser's clipboard API
    browser.execute_script("""
        window.__copied = null;
        navigator.clipboard.writeText = t => { window.__copied = t; return Promise.resolve(); };""")
    bot.find_element(By.CSS_SELECTOR, f"button[aria-label='{WIDGET['copy']}']").click()
    copied = wait_for(browser, lambda d: d.execute_script("return window.__copied"), 10)
    assert "**" not in copied and not any(line.startswith(">") for line in copied.splitlines())
    assert "$164,034" in copied
    answer, sources = copied.split(f"\n\n{WIDGET['sources']}:\n")
    assert sources.splitlines()[0].startswith(
        "[1] Senior Machine Learning Scientist › Industry Trends › Salary and Compensation ("
        f"{ROLE}, lines 180")
    assert WIDGET["copied"] in bot.find_element(By.CSS_SELECTOR, ".rc-action-status").text


def test_a_lost_connection_says_so_and_the_question_is_asked_again(
        browser: Any, live_server: Any) -> None:
    from conftest_server import network
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = fresh_chat(browser, live_server.url + "/")
    with network(browser, offline=True):
        box.send_keys("Is remote work possible?" + Keys.ENTER)
        error = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".rc-error"), 30,
                         "no message when the server could not be reached")
        assert WIDGET["unreachable"] in error.text
        assert turns(browser)[0]["question"] == "Is remote work possible?"  # nothing lost
    error.find_element(By.CSS_SELECTOR, ".rc-retry").click()
    wait_for(browser, lambda d: turns(d)[0]["final"] and "hybrid" in turns(d)[0]["answer"]
             .lower(), 30, "asking again did not answer")
    assert not browser.find_elements(By.CSS_SELECTOR, ".rc-error")


def test_on_a_slow_link_the_question_shows_before_the_server_answers(
        browser: Any, live_server: Any) -> None:
    from conftest_server import network
    from selenium.webdriver.common.keys import Keys

    box = fresh_chat(browser, live_server.url + "/")
    with network(browser, latency_ms=2000):
        box.send_keys("What does the role pay?" + Keys.ENTER)
        shown = turns(browser)  # read at once: the server cannot have answered yet
        assert [t["question"] for t in shown] == ["What does the role pay?"]
        assert not shown[0]["final"] and not shown[0]["answer"]
        wait_for(browser, lambda d: turns(d)[0]["final"], 60, "no answer over the slow link")
    assert "$164,034" in turns(browser)[0]["answer"]


def test_limits_show_as_friendly_messages_with_a_way_to_ask_again(
        browser: Any, server_settings: Any, served_bot: Any) -> None:
    from conftest_server import ask_in_chat, start
    from selenium.webdriver.common.by import By

    running = start(server_settings.model_copy(update={"rate_limit_per_minute": 1}), served_bot)
    try:
        fresh_chat(browser, running.url + "/")
        ask_in_chat(browser, "Is remote work possible?")
        bot = ask_in_chat(browser, "What does the role pay?")
        error = bot.find_element(By.CSS_SELECTOR, ".rc-error")
        assert "faster than I can answer" in error.text
        assert error.find_element(By.CSS_SELECTOR, ".rc-retry").text == WIDGET["retry"]
    finally:
        browser.get("about:blank")
        running.stop()


TWO_ROLES = {
    "data-engineer.md": """---
title: Data Engineer
---
# Data Engineer

## Work location
- The role is fully remote within Europe.

## Salary
- The salary band is EUR 70,000 to 85,000 per year.
""",
    "office-manager.md": """---
title: Office Manager
---
# Office Manager

## Work location
- The role is based in the Lisbon office five days a week.

## Salary
- The salary band is EUR 40,000 to 48,000 per year.
""",
}


@pytest.fixture(scope="module")
def two_role_server(embeddings: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conftest_server import start

    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("two-roles")
    (root / "corpus").mkdir()
    for name, text in TWO_ROLES.items():
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index",
                        feedback_db=root / "feedback.sqlite3", rate_limit_per_minute=1000)
    running = start(settings, Assistant.from_settings(settings, embeddings=embeddings))
    yield running
    running.stop()


def test_the_role_picker_switches_to_that_roles_own_conversation(
        browser: Any, two_role_server: Any, width: tuple[int, int]) -> None:
    from conftest_server import ask_in_chat
    from selenium.webdriver.common.by import By

    fresh_chat(browser, two_role_server.url + "/")
    ask_in_chat(browser, "Which roles are fully remote?")

    def pick(title: str) -> None:
        field = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#ra-role input"))
        field.click()
        option = wait_for(browser, lambda d: [o for o in d.find_elements(
            By.CSS_SELECTOR, "#ra-role [role=option]") if o.text.strip() == title], 10,
            f"the picker does not offer {title}")[0]
        option.click()

    pick("Office Manager")
    wait_for(browser, lambda d: turns(d) == [], 10, "another role did not start its own chat")
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#ra-header h1").text ==
             "Office Manager", 10, "the page header does not name the role picked")
    bot = ask_in_chat(browser, "where is the job based?")
    assert "Lisbon" in bot.text and "remote within Europe" not in bot.text  # answered in scope
    pick(WIDGET["all_roles_choice"])
    wait_for(browser, lambda d: [t["question"] for t in turns(d)] ==
             ["Which roles are fully remote?"], 10, "the general chat did not come back")


def test_the_question_box_is_one_line_until_a_question_needs_more(
        browser: Any, live_server: Any, host_pages: dict[str, Any], artifacts: Path,
        width: tuple[int, int]) -> None:
    """In the widget (a 400 px panel on a desktop, the whole screen on a phone) the empty box
    shows its placeholder whole on one line, with no scroll arrows; it grows with what is
    typed, scrolls only past its maximum height, and is one line again once emptied."""
    from selenium.webdriver.common.by import By

    browser.get(host_pages["allowed"].page(
        "question-box.html", f'<script src="{live_server.url}/widget.js" async></script>'))
    launcher = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-launcher"))
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-widget")
             .get_attribute("data-state") == "ready", 30, "the widget did not load")
    launcher.click()
    frame = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-frame"))
    browser.switch_to.frame(frame)
    try:
        box = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".rc-box"), 30,
                       "the chat did not load")
        browser.execute_script("localStorage.clear(); arguments[0].value = '';"
                               "arguments[0].dispatchEvent(new Event('input'));", box)
        measure = """
            const box = arguments[0], style = getComputedStyle(box);
            const pen = document.createElement('canvas').getContext('2d');
            pen.font = style.font;
            return {placeholder: pen.measureText(box.placeholder).width,
                    room: box.clientWidth, height: box.clientHeight,
                    line: parseFloat(style.lineHeight), scroll: box.scrollHeight,
                    overflow: style.overflowY};"""
        empty = browser.execute_script(measure, box)
        assert empty["placeholder"] <= empty["room"], f"the placeholder is cut off: {empty}"
        assert empty["height"] < 2 * empty["line"], f"the empty box is not one line: {empty}"
        assert empty["scroll"] <= empty["height"] and empty["overflow"] == "hidden", \
            f"the empty box can scroll (and shows scroll arrows): {empty}"
        browser.save_screenshot(str(artifacts / f"chat-question-box-{width[0]}.png"))

        browser.execute_script("arguments[0].value = 'a line\\n'.repeat(3);"
                               "arguments[0].dispatchEvent(new Event('input'));", box)
        three = browser.execute_script(measure, box)
        assert three["height"] >= 3 * three["line"] and three["overflow"] == "hidden"
        browser.execute_script("arguments[0].value = 'a line\\n'.repeat(20);"
                               "arguments[0].dispatchEvent(new Event('input'));", box)
        many = browser.execute_script(measure, box)
        assert many["height"] < many["scroll"] and many["overflow"] == "auto", many
        browser.execute_script("arguments[0].value = '';"
                               "arguments[0].dispatchEvent(new Event('input'));", box)
        assert browser.execute_script(measure, box) == empty
    finally:
        browser.switch_to.default_content()
        browser.get("about:blank")
