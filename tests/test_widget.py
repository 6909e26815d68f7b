"""The careers-page widget in headless Chromium: host pages on other loopback origins.

The chat server allows exactly one host origin (http://127.0.0.1:<allowed port>); a second host
page on another port stands in for a site that is not on the allow-list.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["conftest_server"]
pytestmark = [pytest.mark.slow, pytest.mark.browser]


def wait_for(*args: Any, **kwargs: Any) -> Any:
    from conftest_server import wait_for as wait  # imported late: pytest loads the plugin first

    return wait(*args, **kwargs)


def ask_in_chat(*args: Any, **kwargs: Any) -> Any:
    from conftest_server import ask_in_chat as ask

    return ask(*args, **kwargs)


def _by() -> Any:
    from selenium.webdriver.common.by import By

    return By


def open_widget(browser: Any) -> Any:
    By = _by()
    launcher = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-launcher"),
                        message="the widget's button did not appear")
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-widget").get_attribute(
        "data-state") != "loading", 20, "the widget did not load its configuration")
    launcher.click()
    return browser.find_element(By.CSS_SELECTOR, ".ra-panel")


# where the widget's parts are on the host page, in CSS px
GEOMETRY = """
const rect = s => { const e = document.querySelector(s); if (!e) return null;
  const r = e.getBoundingClientRect();
  return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width,
          height: r.height}; };
return {width: innerWidth, height: innerHeight, scroll_width: document.documentElement.scrollWidth,
        scroll_y: scrollY, panel: rect('.ra-panel'), header: rect('.ra-panel-header'),
        close: rect('.ra-close'), frame: rect('.ra-frame'), launcher: rect('.ra-launcher'),
        modal: document.querySelector('.ra-panel').getAttribute('aria-modal'),
        page_overflow: getComputedStyle(document.documentElement).overflow + ' '
          + getComputedStyle(document.body).overflow};"""

# the question box and its send button inside the chat's frame, and the frame's own overflow
CHAT_GEOMETRY = """
const rect = s => { const r = document.querySelector(s).getBoundingClientRect();
  return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width,
          height: r.height}; };
return {width: innerWidth, scroll_width: document.documentElement.scrollWidth,
        box: rect('.rc-box'), send: rect('.rc-send')};"""


def geometry(browser: Any) -> dict[str, Any]:
    return dict(browser.execute_script(GEOMETRY))


def chat_geometry(browser: Any, frame: Any) -> dict[str, Any]:
    """CHAT_GEOMETRY, with the question box's place also in the host page's coordinates."""
    By = _by()
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", frame)
    browser.switch_to.frame(frame)
    try:
        wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".rc-box"), 30,
                 "the chat did not load")
        found = dict(browser.execute_script(CHAT_GEOMETRY))
    finally:
        browser.switch_to.default_content()
    found["box_bottom_on_page"] = top + found["box"]["bottom"]
    return found


def test_one_line_script_opens_the_chat_and_answers_with_sources(
        browser: Any, live_server: Any, host_pages: dict[str, Any], artifacts: Path,
        width: tuple[int, int]) -> None:
    By = _by()
    host = host_pages["allowed"]
    url = host.page("careers.html", f'<script src="{live_server.url}/widget.js" async></script>')
    browser.get(url)
    panel = open_widget(browser)
    widget = browser.find_element(By.CSS_SELECTOR, ".ra-widget")
    assert widget.get_attribute("data-state") == "ready"
    assert panel.find_element(By.CSS_SELECTOR, ".ra-panel-title").text == \
        "Ask about the ML Scientist role"  # widget_title from the server's settings
    launcher_colour = browser.execute_script(
        "return getComputedStyle(document.querySelector('.ra-launcher')).backgroundColor")
    assert launcher_colour == "rgb(15, 118, 110)"  # accent_color #0f766e
    frame = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-panel iframe"))
    assert frame.get_attribute("src").startswith(f"{live_server.url}/?embed=1")

    # the layout: a 400 px panel above the button on a desktop, the whole screen on a phone;
    # nothing wider than the screen, and a close button big enough for a thumb (WCAG 2.5.8)
    still(browser)
    where = geometry(browser)
    chat = chat_geometry(browser, frame)
    assert where["scroll_width"] <= where["width"] and chat["scroll_width"] <= chat["width"]
    rect, close = where["panel"], where["close"]
    if width[0] < 600:
        assert [rect["left"], rect["top"], rect["width"], rect["height"]] == \
            [0, 0, where["width"], where["height"]], "the panel does not fill the phone's screen"
        assert close["width"] >= 44 and close["height"] >= 44
        assert where["modal"] == "true" and where["page_overflow"] == "hidden hidden"
    else:
        assert rect["width"] == 400 and rect["right"] <= where["width"] - 16
        assert rect["top"] >= 16 and rect["bottom"] < where["launcher"]["top"]
        assert close["width"] >= 24 and close["height"] >= 24
        assert where["modal"] == "false" and where["page_overflow"] == "visible visible"
    assert 0 <= close["top"] and close["right"] <= where["width"]
    assert chat["box"]["width"] >= 120 and chat["send"]["right"] <= chat["width"]
    assert chat["box_bottom_on_page"] <= rect["bottom"]

    browser.switch_to.frame(frame)
    try:
        # opening the panel puts the cursor in the question box
        wait_for(browser, lambda d: "rc-box" in (d.switch_to.active_element.get_attribute(
            "class") or ""), 30, "the question box was not focused when the panel opened")
        bot = ask_in_chat(browser, "What does the role pay?")
        assert "$164,034" in bot.text and bot.find_elements(By.CSS_SELECTOR, ".rc-cite")
        bot.find_element(By.CSS_SELECTOR, ".rc-cite").click()
        source = bot.find_element(By.CSS_SELECTOR, ".rc-source-body")
        wait_for(browser, lambda d: source.is_displayed() and "lines 180" in source.text, 10,
                 "the source did not open")
        # embedded: the page header is not shown (the panel has its own), only announced
        assert browser.find_element(By.CSS_SELECTOR, "#ra-top").size["height"] <= 1
        # Esc anywhere inside the chat closes the widget, and focus returns to the button
        from selenium.webdriver.common.keys import Keys

        screenshot_when_still(browser, artifacts / f"widget-answer-{width[0]}.png")
        bot.find_element(By.CSS_SELECTOR, ".rc-cite").send_keys(Keys.ESCAPE)
    finally:
        browser.switch_to.default_content()
    wait_for(browser, lambda d: not panel.is_displayed(), 10, "Esc in the chat did not close it")
    assert browser.switch_to.active_element.get_attribute("class") == "ra-launcher"
    assert geometry(browser)["page_overflow"] == "visible visible"  # the page scrolls again
    # the page can reopen it through the widget's small API; Esc on the panel closes it too
    browser.execute_script("window.RoleAssistant.open()")
    wait_for(browser, lambda d: panel.is_displayed(), 5, "RoleAssistant.open() did not open")
    browser.find_element(By.CSS_SELECTOR, ".ra-close").send_keys(Keys.ESCAPE)
    wait_for(browser, lambda d: not panel.is_displayed(), 5, "Esc on the panel did not close it")
    assert browser.switch_to.active_element.get_attribute("class") == "ra-launcher"
    # and so does its close button, by click or tap
    browser.find_element(By.CSS_SELECTOR, ".ra-launcher").click()
    wait_for(browser, lambda d: panel.is_displayed(), 5, "the button did not reopen the panel")
    browser.find_element(By.CSS_SELECTOR, ".ra-close").click()
    wait_for(browser, lambda d: not panel.is_displayed(), 5, "the close button did not close it")
    assert browser.switch_to.active_element.get_attribute("class") == "ra-launcher"


def still(browser: Any) -> None:
    """Once the widget's open animation (and any other) has finished."""
    wait_for(browser, lambda d: d.execute_script(
        "return document.getAnimations().every(a => a.playState !== 'running')"), 10)


def screenshot_when_still(browser: Any, path: Path) -> None:
    still(browser)
    browser.save_screenshot(str(path))


PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
# an iPhone's notch and home indicator, for pages that let content under them (viewport-fit)
INSETS = {"top": 47, "bottom": 34, "left": 0, "right": 0}
COVER = "width=device-width, initial-scale=1, viewport-fit=cover"
LONG_PAGE = "".join(f"<p>Paragraph {n} of the posting.</p>" for n in range(120))


def wheel_scrolls_the_page(browser: Any, x: int, y: int) -> bool:
    """Whether a mouse wheel turned at (x, y) of the viewport scrolls the page. The page's own
    listener (not passive, so Chromium waits for it before scrolling) sees the wheel; a scroll
    it starts shows within ten frames after that."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    browser.execute_script("window.wheeled = false; window.wheelFrom = scrollY;"
                           "addEventListener('wheel', () => { window.wheeled = true; },"
                           " {passive: false, once: true});")
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_viewport(x, y), 0, 300).perform()
    wait_for(browser, lambda d: d.execute_script("return window.wheeled"), 5,
             "the wheel did not reach the page")
    return bool(browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        let frames = 10;
        const tick = () => --frames ? requestAnimationFrame(tick)
                                    : done(scrollY !== window.wheelFrom);
        requestAnimationFrame(tick);"""))


@pytest.fixture
def phone(browser: Any) -> Iterator[None]:
    """A phone's screen with a notch and a home indicator."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    browser.execute_cdp_cmd("Emulation.setSafeAreaInsetsOverride", {"insets": INSETS})
    try:
        yield
    finally:
        browser.execute_cdp_cmd("Emulation.setSafeAreaInsetsOverride", {"insets": {}})
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_on_a_phone_the_open_panel_is_the_whole_screen_and_the_page_stays_put(
        browser: Any, live_server: Any, host_pages: dict[str, Any], artifacts: Path,
        phone: None) -> None:
    """A candidate who scrolled down a long posting opens the chat: it covers the screen, its
    header and question box clear of the notch and the home indicator; swiping on it does not
    scroll the posting behind, and closing it leaves the posting where it was."""
    By = _by()
    url = host_pages["allowed"].page(
        "phone.html", f'{LONG_PAGE}<script src="{live_server.url}/widget.js" async></script>',
        viewport=COVER)
    browser.get(url)
    browser.execute_script("scrollTo(0, 600)")
    read_to = geometry(browser)["scroll_y"]
    assert read_to == 600
    panel = open_widget(browser)
    frame = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-frame[data-ready]"),
                     30, "the chat in the panel did not load")
    still(browser)
    where = geometry(browser)
    chat = chat_geometry(browser, frame)
    screen = [0, 0, PHONE["width"], PHONE["height"]]
    assert [where["panel"][k] for k in ("left", "top", "width", "height")] == screen
    assert where["scroll_width"] <= where["width"] and chat["scroll_width"] <= chat["width"]
    assert where["close"]["top"] >= INSETS["top"], "the close button is under the notch"
    assert where["close"]["width"] >= 44 and where["close"]["height"] >= 44
    assert where["header"]["bottom"] <= where["frame"]["top"]
    assert chat["box_bottom_on_page"] <= PHONE["height"] - INSETS["bottom"], \
        "the question box is under the home indicator"
    assert where["modal"] == "true"  # the page behind is covered: not read out either
    browser.save_screenshot(str(artifacts / "widget-phone-open.png"))

    assert not wheel_scrolls_the_page(browser, 100, 70), "the page scrolled behind the panel"
    assert geometry(browser)["scroll_y"] == read_to
    browser.find_element(By.CSS_SELECTOR, ".ra-close").click()
    wait_for(browser, lambda d: not panel.is_displayed(), 5, "the close button did not close it")
    assert browser.switch_to.active_element.get_attribute("class") == "ra-launcher"
    assert geometry(browser)["scroll_y"] == read_to, "closing the chat lost the candidate's place"
    # and the wheel that did nothing while the panel was open scrolls it now (the control)
    assert wheel_scrolls_the_page(browser, 20, 300), "the page does not scroll after closing"


# Headless Chromium has no on-screen keyboard: this stands in for the visual viewport the
# keyboard leaves (window.visualViewport may be replaced), set before the widget runs.
FAKE_KEYBOARD = """<script>
const view = Object.assign(new EventTarget(),
                           {width: 390, height: 844, offsetLeft: 0, offsetTop: 0, scale: 1});
window.visualViewport = view;
window.keyboard = (changes) => { Object.assign(view, changes);
                                 view.dispatchEvent(new Event('resize')); };
</script>"""


def test_on_a_phone_the_panel_fits_above_the_on_screen_keyboard(
        browser: Any, live_server: Any, host_pages: dict[str, Any], artifacts: Path,
        phone: None) -> None:
    """The keyboard covers the bottom of the screen without resizing the page (Chrome for
    Android, Safari): the panel shrinks to what is left, question box just above the keyboard
    and header still on screen; zooming in is not a keyboard, and leaves the panel alone."""
    By = _by()
    url = host_pages["allowed"].page(
        "keyboard.html", f'{FAKE_KEYBOARD}<script src="{live_server.url}/widget.js" async>'
        '</script>', viewport=COVER)
    browser.get(url)
    open_widget(browser)
    frame = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-frame[data-ready]"),
                     30, "the chat in the panel did not load")

    def panel_at(top: float, height: float) -> Any:
        def fits(d: Any) -> bool:
            panel = geometry(d)["panel"]
            return [panel["top"], panel["height"]] == [top, height]
        return wait_for(browser, fits, 5, f"the panel is not {height} px high at {top}")

    browser.execute_script("keyboard({height: 500})")
    panel_at(0, 500)
    chat = chat_geometry(browser, frame)
    assert chat["box_bottom_on_page"] <= 500, "the question box is behind the keyboard"
    where = geometry(browser)
    assert where["close"]["top"] >= INSETS["top"]
    # the chat reaches down to the keyboard: the home indicator's inset is hidden behind it
    assert where["frame"]["bottom"] == 500
    browser.save_screenshot(str(artifacts / "widget-phone-keyboard.png"))
    # a small phone's keyboard with its suggestion bar leaves less: the conversation gives way
    browser.execute_script("keyboard({height: 300})")
    panel_at(0, 300)
    assert chat_geometry(browser, frame)["box_bottom_on_page"] <= 300, \
        "the question box is behind a small phone's keyboard"
    # Safari scrolls the layout viewport up to show the focused box: the panel follows it
    browser.execute_script("keyboard({height: 500, offsetTop: 120})")
    panel_at(120, 500)
    browser.execute_script("keyboard({height: 844, offsetTop: 0})")  # the keyboard goes away
    panel_at(0, 844)
    browser.execute_script("keyboard({height: 422, scale: 2})")  # pinch-zoomed in, no keyboard
    panel_at(0, 844)


# where keyboard focus is, seen from the host page: a part of the widget, the chat's frame
# (focus inside it), or somewhere on the page
FOCUS = """const a = document.activeElement;
return a.closest('.ra-panel') ? (a.matches('iframe') ? 'chat' : a.className) : 'page:' + a.tagName;"""


def tab_round(browser: Any, presses: int, back: bool = False) -> list[str]:
    """Where focus is after each of `presses` presses of Tab (Shift+Tab with `back`)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    seen = []
    for _ in range(presses):
        keys = ActionChains(browser)
        if back:
            keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT)
        else:
            keys.send_keys(Keys.TAB)
        keys.perform()
        seen.append(str(browser.execute_script(FOCUS)))
    return seen


def test_on_a_phone_tab_goes_round_the_panel_and_never_reaches_the_page(
        browser: Any, live_server: Any, host_pages: dict[str, Any], phone: None) -> None:
    """The open panel covers the phone's screen (aria-modal): a keyboard user (a Bluetooth
    keyboard, switch access) who tabs through the chat and past its last control comes back
    to the close button, not to links of the posting hidden behind; Shift+Tab goes round the
    other way. On a desktop, where the panel sits beside the page, Tab leaves it (the control)."""
    By = _by()
    links = "".join(f'<p><a href="#p{n}">Link {n} of the posting</a></p>' for n in range(5))
    url = host_pages["allowed"].page(
        "phone-tab.html", f'{links}<script src="{live_server.url}/widget.js" async></script>',
        viewport=COVER)
    browser.get(url)
    open_widget(browser)
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-frame[data-ready]"), 30,
             "the chat in the panel did not load")
    wait_for(browser, lambda d: d.execute_script(FOCUS) == "chat", 10,
             "opening the chat did not focus it")
    forward = tab_round(browser, 40)
    assert not [f for f in forward if f.startswith("page:")], forward
    assert forward.count("ra-close") >= 2, f"Tab did not come round to the close button: {forward}"
    backward = tab_round(browser, 40, back=True)
    assert not [f for f in backward if f.startswith("page:")], backward
    assert backward.count("ra-close") >= 2, backward

    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})  # a desktop window
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-panel").get_attribute(
        "aria-modal") == "false", 10, "the panel stayed modal on a desktop")
    browser.find_element(By.CSS_SELECTOR, ".ra-close").click()
    browser.find_element(By.CSS_SELECTOR, ".ra-launcher").click()
    wait_for(browser, lambda d: d.execute_script(FOCUS) == "chat", 10,
             "opening the chat did not focus it")
    assert [f for f in tab_round(browser, 40) if f.startswith("page:")], \
        "on a desktop Tab should leave the panel for the page"


def test_on_a_phone_back_closes_the_panel_and_leaves_the_history_as_it_was(
        browser: Any, live_server: Any, host_pages: dict[str, Any], phone: None) -> None:
    """On a phone the open panel looks like a page: Android's back button closes it and keeps
    the candidate on the posting. Closed by its own button, it leaves no entry behind, so the
    next Back goes where it did before the chat was opened. On a desktop (the control) the
    panel is part of the page and Back leaves the page as usual."""
    By = _by()
    tag = f'<script src="{live_server.url}/widget.js" async></script>'
    before = host_pages["allowed"].page("back-before.html", "<p>The careers page.</p>")
    posting = host_pages["allowed"].page("back-posting.html", f"<p>The posting.</p>{tag}",
                                         viewport=COVER)
    browser.get(before)
    browser.get(posting)
    panel = open_widget(browser)
    browser.back()
    wait_for(browser, lambda d: not panel.is_displayed(), 10, "Back did not close the panel")
    assert browser.current_url == posting, "Back left the posting instead of closing the chat"

    browser.find_element(By.CSS_SELECTOR, ".ra-launcher").click()
    wait_for(browser, lambda d: panel.is_displayed(), 5, "the launcher did not reopen the panel")
    browser.find_element(By.CSS_SELECTOR, ".ra-close").click()
    wait_for(browser, lambda d: not panel.is_displayed(), 5, "the close button did not close it")
    wait_for(browser, lambda d: d.execute_script("return history.state") is None, 10,
             "closing the panel left its history entry in place")
    browser.back()
    wait_for(browser, lambda d: d.current_url == before, 10,
             "Back after closing the chat did not leave the posting")

    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})  # a desktop window
    browser.get(posting)
    panel = open_widget(browser)
    browser.back()
    wait_for(browser, lambda d: d.current_url == before, 10,
             "on a desktop Back should leave the page, open panel or not")


def test_the_widget_tells_the_truth_when_the_server_is_down(
        browser: Any, server_settings: Any, served_bot: Any, host_pages: dict[str, Any],
        artifacts: Path) -> None:
    """A launcher already on the page (or its script from the browser's cache) must not claim
    the server is online, or blame the allow-list, when the server is simply down."""
    from conftest_server import start

    By = _by()
    running = start(server_settings, served_bot)
    host = host_pages["allowed"]
    tag = f'<script src="{running.url}/widget.js" async></script>'
    first, second = host.page("down-1.html", tag), host.page("down-2.html", tag)
    try:
        browser.get(first)
        panel = open_widget(browser)
        widget = browser.find_element(By.CSS_SELECTOR, ".ra-widget")
        assert widget.get_attribute("data-state") == "ready"
    finally:
        running.stop()
    # the open panel notices (it checks the server while open) and greys the dot
    wait_for(browser, lambda d: widget.get_attribute("data-state") == "offline-ready", 45,
             "the open widget still says the server is online")
    assert panel.find_element(By.CSS_SELECTOR, ".ra-status-text").text == "Offline"

    # a page that loads the script from the browser's cache while the server is down
    browser.get(second)
    launcher = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-launcher"), 20,
                        "the cached widget script did not run")
    widget = browser.find_element(By.CSS_SELECTOR, ".ra-widget")
    wait_for(browser, lambda d: widget.get_attribute("data-state") == "offline", 20,
             "the widget did not conclude that the server is down")
    launcher.click()
    panel = browser.find_element(By.CSS_SELECTOR, ".ra-panel")
    wait_for(browser, lambda d: "can't be reached" in panel.text, 10,
             "the panel does not say the server cannot be reached")
    assert "isn't available on this page" not in panel.text
    assert panel.find_element(By.CSS_SELECTOR, ".ra-retry").text == "Try again"
    logs = " ".join(entry["message"] for entry in browser.get_log("browser"))
    assert "cannot reach the chat server" in logs and "allowed_origins" not in logs
    screenshot_when_still(browser, artifacts / "widget-server-down.png")


def test_a_role_snippet_scopes_the_chat_to_that_role(
        browser: Any, live_server: Any, host_pages: dict[str, Any]) -> None:
    By = _by()
    source = "senior-machine-learning-scientist.txt"
    url = host_pages["allowed"].page(
        "posting.html", f'<script src="{live_server.url}/widget.js" data-scope="{source}" '
        'async></script>')
    browser.get(url)
    open_widget(browser)
    frame = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-panel iframe"))
    assert f"scope={source}" in frame.get_attribute("src")
    browser.switch_to.frame(frame)
    try:
        # a posting's chat has no role picker: the role is fixed by the snippet
        wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".rc-box"), 20,
                 "the chat did not load")
        assert not any(e.is_displayed() for e in browser.find_elements(By.CSS_SELECTOR, "#ra-role"))
        bot = ask_in_chat(browser, "Is remote work possible?")
        assert bot.find_elements(By.CSS_SELECTOR, ".rc-cite") and "hybrid" in bot.text.lower()
    finally:
        browser.switch_to.default_content()


def test_widget_theme_and_the_tags_data_theme_choose_the_colour_scheme(
        browser: Any, server_settings: Any, served_bot: Any, host_pages: dict[str, Any],
        artifacts: Path) -> None:
    """widget_theme "light" keeps the chat and its panel light on a candidate's dark system;
    a page's data-theme="dark" makes them dark on a light one."""
    from conftest_server import start

    By = _by()
    running = start(server_settings.model_copy(update={"widget_theme": "light"}), served_bot)

    def frame_scheme(url: str) -> tuple[str, str, bool, bool]:
        """The open widget's panel background, the frame's address, whether the chat in it is
        dark, and whether the frame sees a dark system."""
        browser.get(url)
        open_widget(browser)
        frame = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-panel iframe"))
        panel = browser.execute_script(
            "return getComputedStyle(document.querySelector('.ra-panel')).backgroundColor")
        src = frame.get_attribute("src")
        browser.switch_to.frame(frame)
        try:
            wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".rc-box"), 30,
                     "the chat did not load")
            dark, system_dark = browser.execute_script(
                "return [!!document.querySelector('.dark .rc'),"
                " matchMedia('(prefers-color-scheme: dark)').matches]")
        finally:
            browser.switch_to.default_content()
        return panel, src, dark, system_dark

    tag = f'<script src="{running.url}/widget.js"{{}} async></script>'
    try:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-color-scheme", "value": "dark"}]})
        panel, src, dark, system_dark = frame_scheme(
            host_pages["allowed"].page("theme-light.html", tag.format("")))
        assert system_dark, "the frame does not see the emulated dark system"
        assert "__theme=light" in src and not dark, "widget_theme='light' did not keep it light"
        assert panel == "rgb(255, 255, 255)"
        screenshot_when_still(browser, artifacts / "widget-light-on-a-dark-system.png")

        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-color-scheme", "value": "light"}]})
        panel, src, dark, system_dark = frame_scheme(
            host_pages["allowed"].page("theme-dark.html", tag.format(' data-theme="dark"')))
        assert not system_dark
        assert "__theme=dark" in src and dark, "data-theme='dark' did not make it dark"
        assert panel == "rgb(22, 26, 35)"
        screenshot_when_still(browser, artifacts / "widget-dark-on-a-light-system.png")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        running.stop()


def test_a_site_not_on_the_allow_list_is_refused(
        browser: Any, live_server: Any, host_pages: dict[str, Any], artifacts: Path) -> None:
    By = _by()
    chat = f"{live_server.url}/?embed=1"
    body = (f'<iframe id="direct" src="{chat}" style="width:480px;height:260px;border:1px solid '
            f'#ccc"></iframe><script src="{live_server.url}/widget.js" async></script>')
    refused = host_pages["refused"].page("careers.html", body)
    allowed = host_pages["allowed"].page("direct.html", body)

    def direct_frame_shows_chat() -> bool:
        frame = wait_for(browser, lambda d: d.find_element(By.ID, "direct"))
        browser.switch_to.frame(frame)
        try:
            return bool(browser.execute_script(
                "return !!document.querySelector('gradio-app') && "
                "location.href.startsWith('http')"))
        finally:
            browser.switch_to.default_content()

    # positive control: the very same markup on the allowed origin shows the chat
    browser.get(allowed)
    wait_for(browser, lambda d: direct_frame_shows_chat(), 20,
             "the chat did not load in a frame on the allowed origin")

    browser.get(refused)
    panel = open_widget(browser)
    widget = browser.find_element(By.CSS_SELECTOR, ".ra-widget")
    assert widget.get_attribute("data-state") == "unavailable"
    # the panel fades in (opacity animation), and Selenium reads no text while it is invisible
    notice = "The chat isn't available on this page."
    wait_for(browser, lambda d: panel.find_element(By.CSS_SELECTOR, ".ra-unavailable").text
             == notice, 5, "the widget did not show that the chat is unavailable here")
    assert panel.find_elements(By.TAG_NAME, "iframe") == []
    # Chromium itself refuses to frame the chat here (CSP frame-ancestors)
    logs: list[str] = []
    wait_for(browser, lambda d: "frame-ancestors" in " ".join(
        logs.extend(e["message"] for e in d.get_log("browser")) or logs), 20,
        "Chromium did not report refusing the frame")
    assert not direct_frame_shows_chat()
    assert "allowed_origins" in " ".join(logs)  # the widget names the setting to change
    screenshot_when_still(browser, artifacts / "widget-refused.png")


def test_web_component_snippet_renders_the_chat_in_the_page(
        browser: Any, live_server: Any, host_pages: dict[str, Any], artifacts: Path) -> None:
    By = _by()
    snippet = (f'<div style="max-width:760px;margin:0 auto 40px;padding:0 24px">'
               f'<script type="module" src="{live_server.url}/gradio.js"></script>'
               f'<gradio-app src="{live_server.url}/"></gradio-app></div>')
    browser.get(host_pages["allowed"].page("component.html", snippet))
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "gradio-app #ra-chat .rc-box"),
             40, "the <gradio-app> web component did not render the chat")
    bot = ask_in_chat(browser, "Is remote work possible?")
    assert "hybrid" in bot.text.lower() and bot.find_elements(By.CSS_SELECTOR, ".rc-cite")
    browser.save_screenshot(str(artifacts / "web-component.png"))


def test_embed_page_offers_three_snippets_with_live_preview(
        browser: Any, live_server: Any, artifacts: Path) -> None:
    By = _by()
    browser.get(f"{live_server.url}/embed")
    snippets = {el.get_attribute("id"): el.text
                for el in browser.find_elements(By.CSS_SELECTOR, "pre[id^=snippet-]")}
    assert snippets["snippet-script"] == f'<script src="{live_server.url}/widget.js" async></script>'
    assert f'<gradio-app src="{live_server.url}/"></gradio-app>' in snippets["snippet-component"]
    # widget_theme "system": no __theme, the chat follows the candidate's colour scheme
    assert snippets["snippet-iframe"].startswith(f'<iframe src="{live_server.url}/?embed=1" ')
    browser.save_screenshot(str(artifacts / "embed-page.png"))
    # the floating button on the page is the script snippet, running
    open_widget(browser)
    frame = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-panel iframe"))
    browser.switch_to.frame(frame)
    try:
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".rc-examples button"), 30)
    finally:
        browser.switch_to.default_content()
    screenshot_when_still(browser, artifacts / "embed-page-preview.png")
    browser.get("about:blank")
