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
 * The page can also call window.RoleAssistant.open() / .close() / .toggle().
 * If this site is not on the server's allow-list, the config request is refused (CORS) and
 * the panel says the chat is unavailable here; the server's CSP would refuse the frame anyway.
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
    chat_url: base + "/?embed=1&__theme=light" +
      (data.scope ? "&scope=" + encodeURIComponent(data.scope) : ""),
    texts: {
      open_label: "Questions about the role?",
      close_label: "Close chat",
      unavailable: "The chat isn't available on this page."
    }
  };

  var ICON_CHAT =
    '<svg viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" ' +
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">' +
    '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/>' +
    '<path d="M8 9h8M8 13h5"/></svg>';
  var ICON_CLOSE =
    '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" ' +
    'stroke-width="2.2" stroke-linecap="round" aria-hidden="true">' +
    '<path d="M6 6l12 12M18 6L6 18"/></svg>';

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
  var titleText = el("span");
  titleEl.appendChild(dot);
  titleEl.appendChild(titleText);
  var closeBtn = el("button", { "type": "button", "class": "ra-close" }, ICON_CLOSE);
  header.appendChild(titleEl);
  header.appendChild(closeBtn);
  var body = el("div", { "class": "ra-panel-body" });
  panel.appendChild(header);
  panel.appendChild(body);
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
    if (config.accent_color) root.style.setProperty("--ra-accent", config.accent_color);
  }

  function setState(next) {
    state = next;
    root.setAttribute("data-state", next);
  }

  function showUnavailable() {
    body.textContent = "";
    var box = el("div", { "class": "ra-unavailable", "role": "alert" });
    box.textContent = config.texts.unavailable;
    body.appendChild(box);
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

  function render() {
    if (panel.hidden) return;
    if (state === "ready") showChat();
    else if (state === "unavailable") showUnavailable();
  }

  function open() {
    panel.hidden = false;
    root.classList.add("ra-open");
    launcher.setAttribute("aria-expanded", "true");
    render();
    closeBtn.focus({ preventScroll: true });
  }

  function close() {
    panel.hidden = true;
    root.classList.remove("ra-open");
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus({ preventScroll: true });
  }

  function toggle() { if (panel.hidden) open(); else close(); }

  launcher.addEventListener("click", toggle);
  closeBtn.addEventListener("click", close);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) close();
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
  fetch(base + "/widget/config" + (scope ? "?" + scope : ""), { mode: "cors", credentials: "omit" })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(function (server) {
      config.title = data.title || server.title || config.title;
      config.accent_color = data.accent || server.accent_color || config.accent_color;
      config.chat_url = (server.chat_url || config.chat_url) + (scope ? "&" + scope : "");
      Object.keys(server.texts || {}).forEach(function (k) { config.texts[k] = server.texts[k]; });
      applyConfig();
      setState("ready");
      render();
    })
    .catch(function (error) {
      if (window.console) {
        console.warn("Role assistant: " + base + " refused this site (" +
                     window.location.origin + "); add it to the server's allowed_origins. " +
                     error);
      }
      setState("unavailable");
      render();
    });
})();
