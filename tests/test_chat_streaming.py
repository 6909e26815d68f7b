"""The chat page in headless Chromium shows a generated answer as it is made, then the guarded
one. By default a sentence appears once the guard has passed it, so a sentence the passages do
not support is never on screen; with `stream_unchecked` the model's text shows as it comes and
the unsupported sentence is visible until the answer is final. The model is LangChain's fake
chat model (scripted, streamed slowly)."""

from __future__ import annotations

from typing import Any

import pytest

pytest_plugins = ["conftest_server"]
pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCRIPT = ("The average annual salary is $130,819 [1]. The hiring manager is Maria Lopez [1].")


@pytest.fixture(params=[False, True], ids=["checked", "unchecked"])
def streaming_server(request: Any, role_settings: Any, role_index: Any, embeddings: Any,
                     tmp_path: Any) -> Any:
    from conftest_server import scripted_server

    settings = role_settings.model_copy(update={"feedback_db": tmp_path / "feedback.sqlite3",
                                                "rate_limit_per_minute": 1000,
                                                "stream_unchecked": request.param})
    running = scripted_server(settings, embeddings, SCRIPT, sleep=0.06)  # about 5 s in all
    yield running
    running.stop()


def test_the_chat_streams_then_shows_the_guarded_answer(browser: Any,
                                                        streaming_server: Any) -> None:
    from conftest_server import wait_for
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url = streaming_server.url + "/"
    browser.get(url)
    browser.execute_script("localStorage.clear()")  # no conversation kept from the other run
    browser.get(url)
    box = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".rc-box"))
    # every text the answer shows, recorded in the page as it changes (polling from the test
    # could miss a sentence shown only briefly on a busy machine)
    browser.execute_script("""
        window.__shown = [];
        new MutationObserver(() => {
          const answer = document.querySelector('.rc-turn .rc-answer');
          const bot = document.querySelector('.rc-turn .rc-bot');
          if (answer) window.__shown.push([answer.textContent,
                                           bot.getAttribute('aria-busy') === 'false']);
        }).observe(document.querySelector('.rc-log'),
                   {childList: true, subtree: true, characterData: true, attributes: true});""")
    box.send_keys("What is the average salary?")
    box.send_keys(Keys.ENTER)

    def final(d: Any) -> bool:
        bots = d.find_elements(By.CSS_SELECTOR, ".rc-turn .rc-bot")
        return bool(bots) and bots[-1].get_attribute("aria-busy") == "false"

    wait_for(browser, final, 60, "the answer never became final")
    shown = browser.execute_script("return window.__shown")
    provisional = [text for text, done in shown if not done]
    # part of the model's text showed before it had finished writing
    assert any("$130,819" in t and "Lopez" not in t for t in provisional), shown
    if streaming_server.service.settings.stream_unchecked:
        # the unsupported sentence was visible while streaming...
        assert any("Maria Lopez" in t for t in provisional), shown
    else:  # ...or, by default, never on screen at all
        assert not [t for t, _ in shown if "Maria" in t], shown
    # the guarded final answer keeps the supported sentence only
    answer = browser.find_element(By.CSS_SELECTOR, ".rc-turn .rc-answer").text
    assert "Maria" not in answer and "$130,819" in answer
