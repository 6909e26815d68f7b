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

    browser.get(streaming_server.url + "/")
    box = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".rc-box"))
    box.send_keys("What is the average salary?")
    box.send_keys(Keys.ENTER)

    def last_answer(d: Any) -> str:
        rows = d.find_elements(By.CSS_SELECTOR, ".rc-turn .rc-answer")
        return rows[-1].text if rows else ""

    def final(d: Any) -> bool:
        bots = d.find_elements(By.CSS_SELECTOR, ".rc-turn .rc-bot")
        return bool(bots) and bots[-1].get_attribute("aria-busy") == "false"

    # part of the model's text shows before it has finished writing
    wait_for(browser, lambda d: "$130,819" in last_answer(d) and "Lopez" not in last_answer(d)
             and not final(d), 30, "no partial answer was shown while the model wrote")
    if streaming_server.service.settings.stream_unchecked:
        # the unsupported sentence is visible while streaming...
        wait_for(browser, lambda d: "Maria Lopez" in last_answer(d), 30,
                 "the streamed text did not reach the second sentence")
        # ...and gone once the guard has checked the whole answer
        wait_for(browser, lambda d: "Maria" not in last_answer(d) and "$130,819" in
                 last_answer(d) and final(d), 30,
                 "the guarded final answer did not replace the streamed text")
        return
    seen: list[str] = []

    def finished(d: Any) -> bool:  # every text shown until the answer is final, recorded
        seen.append(last_answer(d))
        return final(d)

    wait_for(browser, finished, 30, "the answer never became final")
    assert not [text for text in seen if "Maria" in text]  # never on screen
    assert "$130,819" in last_answer(browser)
