"""Accessibility of every public page in headless Chromium, at desktop (1280x900) and phone
(390x844) widths: axe-core (installed from npm by scripts/test) finds no critical or serious
violation on the chat page (light and dark, each also with the high-contrast preference, with an
answer and an open source), on /embed, and
on a careers page with the widget open (the page and the chat frame inside it), light and, on a
candidate's dark system, dark. Screenshots of each state go to artifacts/. Plus what axe does
not check: 24 px targets, and accessible names without Markdown."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["conftest_server"]
pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
BLOCKING = ("critical", "serious")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm install` in the checkout (scripts/test does)")
    return AXE.read_text(encoding="utf-8")


def wait_for(*args: Any, **kwargs: Any) -> Any:
    from conftest_server import wait_for as wait

    return wait(*args, **kwargs)


def set_size(browser: Any, size: str) -> None:
    width, height = SIZES[size]
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"})


def violations(browser: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's critical and serious findings on the current document."""
    browser.execute_script(axe_source)
    found = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({
          id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))));""")
    return [v for v in found if v["impact"] in BLOCKING]


def still(browser: Any) -> None:
    wait_for(browser, lambda d: d.execute_script(
        "return document.getAnimations().every(a => a.playState !== 'running')"), 10)


def small_targets(browser: Any) -> list[str]:
    """Controls under 24x24 CSS px (WCAG 2.2 target size; inline links in text are exempt)."""
    return browser.execute_script("""
        return [...document.querySelectorAll('.rc button, .rc textarea, .ra-widget button')]
          .filter(e => e.offsetParent !== null)
          .filter(e => { const r = e.getBoundingClientRect();
                         return r.width < 24 || r.height < 24; })
          .map(e => e.className + ' ' + (e.getAttribute('aria-label') || e.textContent));""")


def markdown_in_names(browser: Any) -> list[str]:
    """Accessible names and labels that would read Markdown aloud."""
    names = browser.execute_script("""
        return [...document.querySelectorAll('.rc [aria-label], .rc button, .ra-widget button')]
          .map(e => e.getAttribute('aria-label') || e.textContent);""")
    return [n for n in names if "**" in n or "](" in n or n.lstrip().startswith((">", "#"))]


def answered_chat(browser: Any, url: str) -> None:
    """The chat with one answer and its first source open."""
    from conftest_server import ask_in_chat
    from selenium.webdriver.common.by import By

    browser.get(url)
    browser.execute_script("localStorage.clear()")
    browser.get(url)
    bot = ask_in_chat(browser, "What does the role pay?")
    bot.find_element(By.CSS_SELECTOR, ".rc-cite").click()
    wait_for(browser, lambda d: bot.find_element(By.CSS_SELECTOR, ".rc-source-body")
             .is_displayed(), 10)
    still(browser)


@contextmanager
def widget_with_an_answer(browser: Any, page: str) -> Iterator[None]:
    """The careers page at `page` with the widget open and an answer with its first source open
    in the chat; the block runs inside the chat's frame, and afterwards the page is still."""
    from conftest_server import ask_in_chat
    from selenium.webdriver.common.by import By

    browser.get(page)
    launcher = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-launcher"))
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-widget")
             .get_attribute("data-state") == "ready", 30)
    launcher.click()
    frame = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-frame"))
    browser.switch_to.frame(frame)
    try:
        browser.execute_script("localStorage.clear()")
        bot = ask_in_chat(browser, "What does the role pay?")
        bot.find_element(By.CSS_SELECTOR, ".rc-cite").click()
        still(browser)
        yield
    finally:
        browser.switch_to.default_content()
    still(browser)


def laid_out_for(browser: Any, size: str) -> None:
    """The page is laid out at the screen's own width (a page without a device-width viewport
    is laid out 980 px wide and scaled down on a phone, and axe would check that instead), and
    on a phone the open widget's panel is the whole screen."""
    width, height = SIZES[size]
    assert browser.execute_script("return innerWidth") == width
    panel = browser.execute_script(
        "const r = document.querySelector('.ra-panel').getBoundingClientRect();"
        "return [r.width, r.height];")
    if size == "phone":
        assert panel == [width, height], "the open panel does not fill the phone's screen"
    else:
        assert panel[0] == 400


def dark_system(browser: Any) -> None:
    """The candidate's system set to dark (until Emulation.setEmulatedMedia is cleared)."""
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": "dark"}]})


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("theme", ["light", "dark", "light-more-contrast", "dark-more-contrast"])
def test_the_chat_page_has_no_serious_findings(browser: Any, live_server: Any, axe_source: str,
                                               artifacts: Path, size: str, theme: str) -> None:
    from selenium.webdriver.common.by import By

    set_size(browser, size)
    if theme.endswith("-more-contrast"):  # the high-contrast preference, as the OS would set it
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-contrast", "value": "more"}]})
        theme = theme.removesuffix("-more-contrast")
    try:
        browser.get(f"{live_server.url}/?__theme={theme}")
        browser.execute_script("localStorage.clear()")
        browser.get(f"{live_server.url}/?__theme={theme}")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".rc-examples button"), 30)
        assert violations(browser, axe_source) == []  # the empty chat with its examples
        browser.save_screenshot(str(artifacts / f"a11y-chat-empty-{theme}-{size}.png"))
        if theme == "light" and browser.execute_script(
                "return matchMedia('(prefers-contrast: more)').matches"):
            # the high-contrast rules apply: secondary text is as dark as body text
            assert browser.execute_script(
                "const s = getComputedStyle(document.querySelector('.rc-disclaimer'));"
                "return s.color") == browser.execute_script(
                "return getComputedStyle(document.querySelector('.rc-box')).color")
        answered_chat(browser, f"{live_server.url}/?__theme={theme}")
        if theme == "dark":
            assert browser.execute_script(
                "return !!document.querySelector('.dark .rc')"), "dark mode was not applied"
        assert violations(browser, axe_source) == []
        assert small_targets(browser) == []
        assert markdown_in_names(browser) == []
        contrast = "-more-contrast" if browser.execute_script(
            "return matchMedia('(prefers-contrast: more)').matches") else ""
        browser.save_screenshot(str(artifacts / f"a11y-chat-answer-{theme}{contrast}-{size}.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


@pytest.mark.parametrize("size", SIZES)
def test_the_embed_page_and_the_open_widget_have_no_serious_findings(
        browser: Any, live_server: Any, host_pages: dict[str, Any], axe_source: str,
        artifacts: Path, size: str) -> None:
    from selenium.webdriver.common.by import By

    set_size(browser, size)
    try:
        browser.get(f"{live_server.url}/embed")
        wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ra-widget")
                 .get_attribute("data-state") == "ready", 30)
        assert violations(browser, axe_source) == []
        browser.save_screenshot(str(artifacts / f"a11y-embed-{size}.png"))

        page = host_pages["allowed"].page(
            "a11y.html", f'<script src="{live_server.url}/widget.js" async></script>')
        with widget_with_an_answer(browser, page):
            assert violations(browser, axe_source) == []  # the chat inside the widget
            assert small_targets(browser) == [] and markdown_in_names(browser) == []
        laid_out_for(browser, size)
        assert violations(browser, axe_source) == []  # the host page with the panel open
        assert small_targets(browser) == []
        browser.save_screenshot(str(artifacts / f"a11y-widget-open-{size}.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.parametrize("size", SIZES)
def test_the_open_widget_on_a_dark_system_is_dark_and_has_no_serious_findings(
        browser: Any, live_server: Any, host_pages: dict[str, Any], axe_source: str,
        artifacts: Path, size: str) -> None:
    """widget_theme "system" (the default): a candidate whose system is dark gets a dark chat
    and a dark panel around it, on a careers page that is itself light."""
    set_size(browser, size)
    dark_system(browser)
    try:
        page = host_pages["allowed"].page(
            "a11y-dark.html", f'<script src="{live_server.url}/widget.js" async></script>')
        with widget_with_an_answer(browser, page):
            assert browser.execute_script(
                "return !!document.querySelector('.dark .rc')"), "the chat in the panel is not dark"
            assert browser.execute_script(  # its scrollbars too, not light ones on dark
                "return getComputedStyle(document.querySelector('.rc-log')).colorScheme") == "dark"
            assert violations(browser, axe_source) == []  # the dark chat inside the widget
            assert small_targets(browser) == [] and markdown_in_names(browser) == []
        panel = browser.execute_script(
            "const s = getComputedStyle(document.querySelector('.ra-panel'));"
            "return [s.backgroundColor, s.colorScheme];")
        assert panel == ["rgb(22, 26, 35)", "light dark"], "the panel did not turn dark"
        laid_out_for(browser, size)
        assert violations(browser, axe_source) == []  # the host page with the dark panel open
        assert small_targets(browser) == []
        browser.save_screenshot(str(artifacts / f"a11y-widget-open-dark-{size}.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
