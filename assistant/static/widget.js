/*
 * Role assistant: careers-page widget.
 *
 *   <script src="https://CHAT-SERVER/widget.js" async></script>
 *
 * Adds a floating chat button; clicking it opens the chat in a panel (an iframe of the chat
 * server). The server address comes from this script's own src; title and accent colour come
 * from the server's settings (/widget/config) unless the tag overrides them:
 *   data-title="..."  data-accent="#0f766e"  data-position="left"  data-open="true"
 *   data-scope="backend-engineer.md"  (answer from that role's document only: its posting)
 *   data-theme="system" | "light" | "dark"  (colour scheme of the panel, its button and the
 *   chat; "system" follows the candidate's preference; default: the server's widget_theme)
 * The page can also call window.RoleAssistant.open() / .close() / .toggle().
 * If this site is not on the server's allow-list, the config request is refused (CORS); the
 * open status check (/widget/status) then tells "refused here" from "server down", and the
 * panel says which. The dot in the panel's header shows whether the server answers, checked
 * while the panel is open. Esc anywhere in the panel (the chat frame included: it posts a
 * message) closes it and returns focus to the button; opening it focuses the question box.
 * On a phone (widget.css's narrow or short screens) the open panel is the whole screen and
 * modal: the page behind does not scroll, Tab and Shift+Tab go round the panel's own controls
 * and the chat without reaching the page; with the on-screen keyboard up, the panel is what
 * the keyboard leaves visible.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.RoleAssistant) return;

  var src = new URL(script.src, window.location.href);
  var base = src.href.replace(/\/widget\.js(?:[?#].*)?$/, "");
  var data = script.dataset || {};
  var state = "loading";
  var config = {
    title: data.title || "Ask about the role",
    accent_color: data.accent || "",
    theme: scheme(data.theme) || "system",
    chat_url: base + "/?embed=1",  // the server's address for it replaces this
    texts: {
      open_label: "Questions about the role?",
      close_label: "Close chat",
      unavailable: "The chat isn't available on this page.",
      offline: "The chat server can't be reached right now. Please try again in a moment.",
      offline_label: "Offline",
      online_label: "Online",
      try_again: "Try again"
    }
  };
  var serverOrigin = new URL(base).origin;
  var CHECK_SECONDS = 20;
  var checkTimer = null;
  // widget.css's phone layout (the same media query): the open panel covers the screen
  var PHONE = window.matchMedia("(max-width: 520px), (max-height: 520px)");

  var ICON_CHAT =
    '<svg viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" ' +
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">' +
    '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/>' +
    '<path d="M8 9h8M8 13h5"/></svg>';
  var ICON_CLOSE =
    '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" ' +
    'stroke-width="2.2" stroke-linecap="round" aria-hidden="true">' +
    '<path d="M6 6l12 12M18 6L6 18"/></svg>';

  function scheme(value) {
    return value === "system" || value === "light" || value === "dark" ? value : "";
  }

  // Gradio forces a colour scheme with ?__theme=light|dark and, without it, follows the
  // browser's prefers-color-scheme (and its changes): "system" is the parameter left out
  function themed(url, theme) {
    var address = new URL(url);
    if (theme === "system") address.searchParams.delete("__theme");
    else address.searchParams.set("__theme", theme);
    return address.href;
  }

  function el(tag, attrs, html) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (html) node.innerHTML = html; // only the constant icons above, never server text
    return node;
  }

  var root = el("div", { "class": "ra-widget", "data-state": state });
  if (data.position === "left") root.classList.add("ra-left");
  var launcher = el("button", { "type": "button", "class": "ra-launcher",
                                "aria-expanded": "false", "aria-controls": "ra-panel" }, ICON_CHAT);
  var launcherLabel = el("span", { "class": "ra-launcher-label" });
  launcher.appendChild(launcherLabel);
  var panel = el("div", { "id": "ra-panel", "class": "ra-panel", "role": "dialog",
                          "aria-modal": "false", "hidden": "" });
  var header = el("div", { "class": "ra-panel-header" });
  var titleEl = el("div", { "class": "ra-panel-title" });
  var dot = el("span", { "class": "ra-dot", "aria-hidden": "true" });
  var titleText = el("span", { "class": "ra-title-text" });
  var statusText = el("span", { "class": "ra-status-text", "role": "status" });
  titleEl.appendChild(dot);
  titleEl.appendChild(titleText);
  titleEl.appendChild(statusText);
  var closeBtn = el("button", { "type": "button", "class": "ra-close" }, ICON_CLOSE);
  header.appendChild(titleEl);
  header.appendChild(closeBtn);
  var body = el("div", { "class": "ra-panel-body" });
  // Focus guards of the modal (phone) panel: Tab past its last control (the chat frame's,
  // across the frame boundary, where no key event reaches this page) lands on the guard after
  // it, which sends focus round to the first; Shift+Tab from the first lands on the guard
  // before it. A keydown trap cannot do this: keys typed in the frame stay in the frame.
  var guardStart = el("span", { "class": "ra-guard" });
  var guardEnd = el("span", { "class": "ra-guard" });
  panel.appendChild(guardStart);
  panel.appendChild(header);
  panel.appendChild(body);
  panel.appendChild(guardEnd);
  root.appendChild(panel);
  root.appendChild(launcher);

  function applyConfig() {
    titleText.textContent = config.title;
    launcherLabel.textContent = config.texts.open_label;
    launcher.setAttribute("aria-label", config.texts.open_label);
    launcher.title = config.texts.open_label;
    closeBtn.setAttribute("aria-label", config.texts.close_label);
    closeBtn.title = config.texts.close_label;
    panel.setAttribute("aria-label", config.title);
    root.setAttribute("data-theme", config.theme);  // widget.css colours the panel by it
    if (config.accent_color) root.style.setProperty("--ra-accent", config.accent_color);
    if (config.on_accent) root.style.setProperty("--ra-on-accent", config.on_accent);
  }

  function setState(next) {
    state = next;
    root.setAttribute("data-state", next);
    var offline = next.indexOf("offline") === 0;  // "offline", or "offline-ready" (chat shown)
    statusText.textContent = offline ? config.texts.offline_label : "";
    dot.title = next === "ready" ? config.texts.online_label :
      offline ? config.texts.offline_label : "";
  }

  function showMessage(text, retry) {
    body.textContent = "";
    var box = el("div", { "class": "ra-unavailable", "role": "alert" });
    box.appendChild(el("p"));
    box.firstChild.textContent = text;
    if (retry) {
      var again = el("button", { "type": "button", "class": "ra-retry" });
      again.textContent = config.texts.try_again;
      again.addEventListener("click", function () { setState("loading"); load(); });
      box.appendChild(again);
    }
    body.appendChild(box);
    (retry ? box.querySelector("button") : closeBtn).focus({ preventScroll: true });
  }

  function showChat() {
    if (body.querySelector("iframe")) return;
    body.textContent = "";
    var spinner = el("div", { "class": "ra-loading", "aria-hidden": "true" });
    var frame = el("iframe", {
      "class": "ra-frame", "title": config.title, "src": config.chat_url,
      "allow": "clipboard-write", "referrerpolicy": "strict-origin-when-cross-origin"
    });
    frame.addEventListener("load", function () { spinner.remove(); });
    body.appendChild(spinner);
    body.appendChild(frame);
  }

  function focusChat() {
    var frame = body.querySelector("iframe");
    if (!frame || !frame.getAttribute("data-ready")) return;  // the chat says when
    frame.focus();
    frame.contentWindow.postMessage({ type: "role-assistant:focus" }, serverOrigin);
  }

  // the last control of the panel (the chat, a retry button, else the close button)
  function focusLast() {
    var frame = body.querySelector("iframe");
    var button = body.querySelector("button");
    if (frame) { frame.focus(); focusChat(); }
    else (button || closeBtn).focus({ preventScroll: true });
  }
  guardEnd.addEventListener("focus", function () { closeBtn.focus({ preventScroll: true }); });
  guardStart.addEventListener("focus", focusLast);

  function render() {
    if (panel.hidden) return;
    if (state === "ready") { showChat(); focusChat(); }
    else if (state === "unavailable") showMessage(config.texts.unavailable, false);
    else if (state === "offline") showMessage(config.texts.offline, true);
  }

  // whether the server answers, while the panel is open (the chat frame reports too)
  function check() {
    status().then(function (answer) {
      if (answer === "down") {
        if (state === "ready") setState("offline-ready");
        else if (state !== "unavailable") setState("offline");
      } else if (state === "offline-ready") {
        setState("ready");
      } else if (state === "offline") {
        load();
      }
    });
  }

  function status() {
    return fetch(base + "/widget/status", { mode: "cors", credentials: "omit",
                                            cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : { allowed: true }; })
      .then(function (answer) { return answer.allowed === false ? "refused" : "up"; },
            function () { return "down"; });
  }

  // On a phone the open panel is the whole screen, so it is modal: the page behind neither
  // scrolls (widget.css, html.ra-widget-lock) nor is read out. The on-screen keyboard shrinks
  // only the visual viewport (Chrome for Android, Safari): the panel is fitted to what stays
  // visible, so the question box sits on the keyboard and the header stays on screen. Not
  // while zoomed in (scale > 1), where the candidate pans over the panel as over a page.
  function layout() {
    var open = !panel.hidden, phone = open && PHONE.matches;
    document.documentElement.classList.toggle("ra-widget-lock", open);
    panel.setAttribute("aria-modal", phone ? "true" : "false");
    [guardStart, guardEnd].forEach(function (guard) {  // tabbable only while modal
      if (phone) guard.setAttribute("tabindex", "0");
      else guard.removeAttribute("tabindex");
    });
    var view = window.visualViewport;
    var keyboard = phone && view && Math.abs(view.scale - 1) < 0.01 &&
      view.height < document.documentElement.clientHeight - 1;
    root.classList.toggle("ra-keyboard", !!keyboard);
    root.style.top = keyboard ? view.offsetTop + "px" : "";
    root.style.height = keyboard ? view.height + "px" : "";
  }
  if (PHONE.addEventListener) PHONE.addEventListener("change", layout);
  if (window.visualViewport) {
    window.visualViewport.addEventListener("resize", layout);
    window.visualViewport.addEventListener("scroll", layout);
  }

  // On a phone the open panel looks like a page of its own, and Android's back button (or
  // gesture) is how one leaves a page: it closes the panel instead of leaving the posting.
  // Opening adds one history entry for the panel; Back pops it (popstate closes the panel);
  // closing otherwise takes the entry back off, so the history stays as the page made it.
  var OURS = "role-assistant:open";
  var inHistory = false;
  function ownEntry() { return !!(history.state && history.state[OURS]); }
  if (ownEntry()) history.replaceState(null, "");  // a reload while the panel was open
  window.addEventListener("popstate", function () {
    if (inHistory && !ownEntry()) {
      inHistory = false;
      if (!panel.hidden) close();
    }
  });

  function open() {
    panel.hidden = false;
    root.classList.add("ra-open");
    launcher.setAttribute("aria-expanded", "true");
    if (PHONE.matches && !inHistory && history.pushState) {
      var entry = {};
      entry[OURS] = true;
      history.pushState(entry, "");
      inHistory = true;
    }
    layout();
    render();
    if (state !== "ready") closeBtn.focus({ preventScroll: true });
    check();
    window.clearInterval(checkTimer);
    checkTimer = window.setInterval(check, CHECK_SECONDS * 1000);
  }

  function close() {
    panel.hidden = true;
    root.classList.remove("ra-open");
    launcher.setAttribute("aria-expanded", "false");
    if (inHistory) {  // closed by its button or Esc: take the panel's entry off again
      inHistory = false;
      if (ownEntry()) history.back();
    }
    layout();
    launcher.focus({ preventScroll: true });
    window.clearInterval(checkTimer);
  }

  function toggle() { if (panel.hidden) open(); else close(); }

  launcher.addEventListener("click", toggle);
  closeBtn.addEventListener("click", close);
  root.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) close();
  });
  window.addEventListener("message", function (event) {
    var frame = body.querySelector("iframe");
    if (!frame || event.source !== frame.contentWindow || event.origin !== serverOrigin) return;
    var message = event.data || {};
    if (message.type === "role-assistant:escape" && !panel.hidden) close();
    if (message.type === "role-assistant:ready") {
      frame.setAttribute("data-ready", "true");
      if (!panel.hidden) focusChat();
    }
    if (message.type === "role-assistant:status") {
      if (message.online && state === "offline-ready") setState("ready");
      if (!message.online && state === "ready") setState("offline-ready");
    }
  });

  window.RoleAssistant = { open: open, close: close, toggle: toggle,
                           state: function () { return state; } };

  var sheet = el("link", { "rel": "stylesheet", "href": base + "/widget.css" });
  sheet.addEventListener("load", function () { root.classList.add("ra-styled"); });
  (document.head || document.documentElement).appendChild(sheet);
  applyConfig();

  function mount() {
    document.body.appendChild(root);
    if (data.open === "true") open();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  var scope = data.scope ? "scope=" + encodeURIComponent(data.scope) : "";
  function load() {
    return fetch(base + "/widget/config" + (scope ? "?" + scope : ""),
                 { mode: "cors", credentials: "omit" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (server) {
        config.title = data.title || server.title || config.title;
        config.accent_color = data.accent || server.accent_color || config.accent_color;
        // the text colour the server chose for its accent; a page's own data-accent keeps white
        config.on_accent = data.accent ? "" : server.on_accent;
        config.theme = scheme(data.theme) || scheme(server.theme) || config.theme;
        config.chat_url = themed(server.chat_url || config.chat_url, config.theme) +
          (scope ? "&" + scope : "");
        Object.keys(server.texts || {}).forEach(function (k) { config.texts[k] = server.texts[k]; });
        applyConfig();
        setState("ready");
        render();
      })
      .catch(function (error) {
        // CORS hides why a request failed: ask the open status check whether the server is
        // down or this site is not allowed, and say that (here and in the console)
        return status().then(function (answer) {
          if (window.console) {
            console.warn(answer === "refused" ?
              "Role assistant: " + base + " does not allow this site (" +
              window.location.origin + "); add it to the server's allowed_origins." :
              "Role assistant: cannot reach the chat server at " + base + " (" + error + ").");
          }
          setState(answer === "refused" ? "unavailable" : "offline");
          render();
        });
      });
  }
  load();
})();
