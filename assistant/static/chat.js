/*
 * Role assistant: the candidates' chat client, mounted by the Gradio page (assistant/ui.py) in
 * a gr.HTML element, standalone or inside the careers-page widget's frame.
 *
 * Written by hand (no framework, no build step) because gr.Chatbot cannot do what candidates
 * need here: a question typed while an answer streams is queued, not dropped or overwritten by
 * the next server update; [n] markers open their source; votes show their pressed state; copy
 * gives clean text; and its markup fails axe-core (unnamed expand buttons, buttons nested in
 * buttons). It talks to the same API as everyone else: POST /api/ask/stream (server-sent
 * events) and POST /api/feedback.
 *
 * Every text shown comes from the server's texts ([widget] in texts.toml, HR-editable); every
 * piece of document or answer text is inserted as text or through `renderMarkdown`, which
 * escapes first and only then adds the few elements an answer uses.
 */
(function () {
  "use strict";
  if (window.RoleChat) return;

  // the chat server: where this script came from (the page itself, or another site's page
  // showing the chat as a web component)
  var SERVER = document.currentScript && document.currentScript.src ?
    document.currentScript.src.replace(/\/chat\.js(?:[?#].*)?$/, "") : "";
  var STORE_VERSION = 1;
  var MAX_STORED_TURNS = 60;

  // ---------------------------------------------------------------------------------------
  // text helpers

  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function format(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }

  // Inline Markdown of an answer, on text already escaped: code, backslash escapes (the server
  // escapes tags and images in answers: "\\<b>" and "!\\[" show as "<b>" and "!["), links
  // (http, https and mailto only), [n] citations (only numbers the reply cites), bold, italics.
  function inline(escaped, cited) {
    var codes = [];
    function keep(html) {
      codes.push(html);
      return "\u0000" + (codes.length - 1) + "\u0000";
    }
    var out = escaped.replace(/`([^`]+)`/g, function (all, code) {
      return keep("<code>" + code + "</code>");
    });
    out = out.replace(/\\(&lt;|&gt;|&amp;|&quot;|&#39;|[!-\/:-@\[-`{-~])/g, function (all, ch) {
      return keep(ch);
    });
    // ![alt](src) is an image in Markdown: it stays literal text, never an image or a link
    out = out.replace(/(^|[^!])\[([^\]\n]+)\]\(\s*((?:https?:\/\/|mailto:)[^\s)]+)\s*\)/gi,
      function (all, before, label, href) {
        return before + '<a href="' + href + '" target="_blank" rel="noopener noreferrer">' +
          label + "</a>";
      });
    out = out.replace(/\[(\d{1,3})\]/g, function (all, n) {
      if (!cited || !cited[n]) return all;
      return '<button type="button" class="rc-cite" data-cite="' + n + '" aria-label="' +
        escapeHtml(cited[n]) + '">' + n + "</button>";
    });
    out = out.replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>");
    out = out.replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/g, "$1<em>$2</em>");
    out = out.replace(/(^|[^\w])_(?=\S)([^_\n]*?\S)_(?!\w)/g, "$1<em>$2</em>");
    return out.replace(/\u0000(\d+)\u0000/g, function (all, i) { return codes[+i]; });
  }

  // The block Markdown answers and HR's texts use: paragraphs, "-"/"*"/"1." lists, "> " quotes
  // and "#" headings (shown as bold paragraphs: an answer has no document outline of its own).
  function renderMarkdown(text, cited) {
    var lines = String(text || "").replace(/\r\n?/g, "\n").split("\n");
    var html = [];
    var list = null;
    var para = [];
    var quote = [];

    function flushPara() {
      if (para.length) html.push("<p>" + para.map(function (l) {
        return inline(escapeHtml(l), cited);
      }).join("<br>") + "</p>");
      para = [];
    }
    function flushList() {
      if (list) html.push("<" + list.tag + ">" + list.items.map(function (item) {
        return "<li>" + inline(escapeHtml(item), cited) + "</li>";
      }).join("") + "</" + list.tag + ">");
      list = null;
    }
    function flushQuote() {
      if (quote.length) html.push("<blockquote>" + renderMarkdown(quote.join("\n"), cited) +
                                  "</blockquote>");
      quote = [];
    }
    lines.forEach(function (line) {
      var m;
      if (/^\s*>/.test(line)) {
        flushPara(); flushList();
        quote.push(line.replace(/^\s*>\s?/, ""));
        return;
      }
      flushQuote();
      if (!line.trim()) { flushPara(); flushList(); return; }
      if ((m = /^\s*([-*+•])\s+(.*)$/.exec(line)) || (m = /^\s*(\d{1,3})[.)]\s+(.*)$/.exec(line))) {
        flushPara();
        var tag = /\d/.test(m[1]) ? "ol" : "ul";
        if (list && list.tag !== tag) flushList();
        if (!list) list = { tag: tag, items: [] };
        list.items.push(m[2]);
        return;
      }
      if (list && /^\s{2,}\S/.test(line)) {  // a wrapped list item
        list.items[list.items.length - 1] += " " + line.trim();
        return;
      }
      flushList();
      if ((m = /^\s*#{1,6}\s+(.*)$/.exec(line))) {
        flushPara();
        html.push('<p class="rc-heading"><strong>' + inline(escapeHtml(m[1]), cited) +
                  "</strong></p>");
        return;
      }
      para.push(line);
    });
    flushQuote(); flushPara(); flushList();
    return html.join("");
  }

  // Markdown as plain text: what copy puts on the clipboard and screen readers announce.
  function plainText(text) {
    return String(text || "").replace(/\r\n?/g, "\n").split("\n").map(function (line) {
      var escaped = [];
      line = line.replace(/\\([!-\/:-@\[-`{-~])/g, function (all, ch) {
        escaped.push(ch);
        return "\u0000" + (escaped.length - 1) + "\u0000";
      });
      return line.replace(/^\s*>\s?/, "").replace(/^\s*#{1,6}\s+/, "")
        .replace(/^\s*[-*+]\s+/, "• ")
        .replace(/\[([^\]\n]+)\]\(\s*([^\s)]+)\s*\)/g, "$1 ($2)")
        .replace(/\*\*([\s\S]*?)\*\*/g, "$1").replace(/(^|[^\w*])\*([^*\n]+)\*(?!\w)/g, "$1$2")
        .replace(/(^|[^\w])_([^_\n]+)_(?!\w)/g, "$1$2").replace(/`([^`]+)`/g, "$1")
        .replace(/\u0000(\d+)\u0000/g, function (all, i) { return escaped[+i]; });
    }).join("\n").replace(/\n{3,}/g, "\n\n").trim();
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  var ICONS = {
    copy: '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" ' +
      'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" ' +
      'focusable="false"><rect x="9" y="9" width="12" height="12" rx="2"/>' +
      '<path d="M5 15V5a2 2 0 0 1 2-2h10"/></svg>',
    up: '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" ' +
      'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" ' +
      'focusable="false"><path d="M7 10v11H4V10h3zm0 0 4-8a3 3 0 0 1 3 3v4h6a2 2 0 0 1 2 2.3' +
      'l-1.4 8A2 2 0 0 1 18.6 21H7"/></svg>',
    down: '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" ' +
      'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" ' +
      'focusable="false"><path d="M17 14V3h3v11h-3zm0 0-4 8a3 3 0 0 1-3-3v-4H4a2 2 0 0 1-2-2.3' +
      'l1.4-8A2 2 0 0 1 5.4 3H17"/></svg>',
    send: '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" ' +
      'stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" ' +
      'focusable="false"><path d="M5 12h14M13 6l6 6-6 6"/></svg>'
  };

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }  // blocked third-party storage
  }

  // ---------------------------------------------------------------------------------------
  // the chat

  function Chat(root, config) {
    this.root = root;
    this.config = config;
    this.texts = config.texts || {};
    this.api = (config.api || SERVER).replace(/\/$/, "");
    this.scope = config.scope || "";
    this.turns = [];
    this.busy = false;
    this.online = true;
    this.seq = 0;
    this.build();
    this.restore();
    var self = this;
    window.addEventListener("message", function (event) { self.onMessage(event); });
    if (window.parent !== window) {  // in the widget's frame: it focuses the box on open
      window.parent.postMessage({ type: "role-assistant:ready" }, "*");
    }
  }

  Chat.prototype.key = function () {
    return "role-assistant:chat:v" + STORE_VERSION + ":" + (this.scope || "*");
  };

  Chat.prototype.build = function () {
    var t = this.texts, self = this;
    var id = "rc-" + Math.random().toString(36).slice(2, 8);
    this.id = id;
    this.root.textContent = "";
    this.root.classList.add("rc");
    if (this.config.on_accent) this.root.style.setProperty("--rc-on-accent", this.config.on_accent);
    this.log = el("div", { "class": "rc-log", "role": "log", "aria-label": t.conversation_label,
                           "tabindex": "0" });
    this.welcome = el("section", { "class": "rc-welcome", "aria-labelledby": id + "-try" });
    var intro = el("div", { "class": "rc-intro" });
    intro.innerHTML = renderMarkdown(t.welcome || "");
    this.welcome.appendChild(intro);
    var examples = t.examples || [];
    var heading = el("h2", { "class": "rc-try", "id": id + "-try" }, t.try_asking);
    if (!examples.length) heading.classList.add("rc-sr");
    this.welcome.appendChild(heading);
    var list = el("ul", { "class": "rc-examples" });
    examples.forEach(function (q) {
      var li = el("li");
      var b = el("button", { "type": "button", "class": "rc-chip" }, q);
      b.addEventListener("click", function () { self.submit(q); });
      li.appendChild(b);
      list.appendChild(li);
    });
    this.welcome.appendChild(list);
    this.log.appendChild(this.welcome);

    this.form = el("form", { "class": "rc-form", "novalidate": "" });
    var label = el("label", { "for": id + "-q", "class": "rc-sr" }, t.question_label);
    this.box = el("textarea", { "id": id + "-q", "class": "rc-box", "rows": "1",
                                "placeholder": t.placeholder, "autocomplete": "off",
                                "enterkeyhint": "send", "aria-describedby": id + "-note" });
    if (this.config.max_chars) this.box.setAttribute("maxlength", String(this.config.max_chars));
    this.sendBtn = el("button", { "type": "submit", "class": "rc-send" });
    this.sendBtn.innerHTML = ICONS.send;
    this.sendBtn.appendChild(el("span", { "class": "rc-send-label" }, t.send));
    this.newBtn = el("button", { "type": "button", "class": "rc-new" }, t.clear);
    var row = el("div", { "class": "rc-row" });
    row.appendChild(this.box);
    row.appendChild(this.sendBtn);
    this.form.appendChild(label);
    this.form.appendChild(row);
    this.form.appendChild(this.newBtn);
    this.note = el("p", { "class": "rc-disclaimer", "id": id + "-note" });
    this.note.innerHTML = renderMarkdown(t.disclaimer || "").replace(/^<p>|<\/p>$/g, "");
    this.status = el("div", { "class": "rc-sr", "role": "status", "aria-live": "polite" });

    this.root.appendChild(this.log);
    this.root.appendChild(this.form);
    this.root.appendChild(this.note);
    this.root.appendChild(this.status);

    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submit(self.box.value);
    });
    this.box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        self.submit(self.box.value);
      }
    });
    this.box.addEventListener("input", function () { self.fit(); self.saveDraft(); });
    this.newBtn.addEventListener("click", function () { self.clear(); });
    this.log.addEventListener("click", function (event) {
      var cite = event.target.closest && event.target.closest(".rc-cite");
      if (cite) self.openSource(cite.closest(".rc-turn"), cite.getAttribute("data-cite"), true);
    });
    this.root.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && window.parent !== window) {
        // in the widget's frame: Esc anywhere in the chat closes the widget
        window.parent.postMessage({ type: "role-assistant:escape" }, "*");
      }
    });
  };

  Chat.prototype.fit = function () {
    this.box.style.height = "auto";
    var height = this.box.scrollHeight;
    this.box.style.height = Math.min(height, 160) + "px";  // chat.css's max-height
    this.box.style.overflowY = height > 160 ? "auto" : "";
  };

  Chat.prototype.onMessage = function (event) {
    if (event.source !== window.parent || window.parent === window) return;
    var data = event.data || {};
    if (data.type === "role-assistant:focus") this.focus();
  };

  Chat.prototype.focus = function () {
    this.box.focus({ preventScroll: true });
  };

  // --- keeping the conversation across reloads (per role scope)

  Chat.prototype.save = function () {
    var store = storage();
    if (!store) return;
    var turns = this.turns.slice(-MAX_STORED_TURNS).map(function (turn) {
      return { question: turn.question, reply: turn.reply, error: turn.error || null,
               vote: turn.vote || null, done: !!turn.reply || !!turn.error };
    });
    try {
      if (turns.length) store.setItem(this.key(), JSON.stringify({ turns: turns }));
      else store.removeItem(this.key());
    } catch (e) { /* storage full or blocked: the chat still works, it is just not kept */ }
  };

  Chat.prototype.saveDraft = function () {
    var store = storage();
    if (!store) return;
    try {
      if (this.box.value) store.setItem(this.key() + ":draft", this.box.value);
      else store.removeItem(this.key() + ":draft");
    } catch (e) { /* as above */ }
  };

  Chat.prototype.restore = function () {
    var store = storage(), self = this, saved = null;
    try { saved = store && JSON.parse(store.getItem(this.key()) || "null"); } catch (e) {}
    var draft = store ? store.getItem(this.key() + ":draft") : "";
    if (draft) { this.box.value = draft; this.fit(); }
    if (!saved || !Array.isArray(saved.turns)) return;
    var pending = [];
    saved.turns.forEach(function (s) {
      if (!s || typeof s.question !== "string") return;
      var turn = self.addTurn(s.question);
      turn.vote = s.vote;
      if (s.reply) self.showReply(turn, s.reply, false);
      else if (s.error) self.showError(turn, s.error, false);
      else pending.push(turn);  // asked, but the page closed before the answer: ask again
    });
    if (pending.length) this.pump();
    else this.scrollToEnd();
  };

  Chat.prototype.clear = function () {
    if (this.current && this.current.abort) this.current.abort.abort();
    this.turns.forEach(function (turn) { turn.cancelled = true; });
    this.turns = [];
    this.busy = false;
    Array.prototype.slice.call(this.log.querySelectorAll(".rc-turn")).forEach(function (n) {
      n.remove();
    });
    this.welcome.hidden = false;
    this.save();
    this.announce(this.texts.cleared);
    this.focus();
  };

  Chat.prototype.setScope = function (scope) {
    if ((scope || "") === this.scope) return;
    if (this.current && this.current.abort) this.current.abort.abort();
    this.scope = scope || "";
    this.turns = [];
    this.busy = false;
    Array.prototype.slice.call(this.log.querySelectorAll(".rc-turn")).forEach(function (n) {
      n.remove();
    });
    this.welcome.hidden = false;
    this.restore();
  };

  Chat.prototype.announce = function (text) {
    var status = this.status;
    status.textContent = "";
    if (text) window.setTimeout(function () { status.textContent = text; }, 30);
  };

  // --- asking

  Chat.prototype.submit = function (raw) {
    var question = String(raw || "").trim();
    if (!question) {
      this.announce(this.texts.empty_question);
      this.focus();
      return;
    }
    if (raw === this.box.value) {  // only the submitted text leaves the box
      this.box.value = "";
      this.fit();
      this.saveDraft();
    }
    var turn = this.addTurn(question);
    turn.queued = true;
    this.save();
    this.scrollToEnd();
    this.pump();
  };

  Chat.prototype.addTurn = function (question) {
    var t = this.texts;
    this.welcome.hidden = true;
    var n = ++this.seq;
    var node = el("article", { "class": "rc-turn", "aria-labelledby": this.id + "-u" + n });
    var user = el("div", { "class": "rc-msg rc-user", "id": this.id + "-u" + n });
    user.appendChild(el("span", { "class": "rc-sr" }, t.you_said));
    user.appendChild(el("p", {}, question));
    var bot = el("div", { "class": "rc-msg rc-bot", "aria-busy": "true" });
    var waiting = el("div", { "class": "rc-typing" });
    waiting.appendChild(el("span", { "class": "rc-dots", "aria-hidden": "true" }));
    waiting.appendChild(el("span", { "class": "rc-typing-label" }, t.queued));
    bot.appendChild(waiting);
    node.appendChild(user);
    node.appendChild(bot);
    this.log.appendChild(node);
    var turn = { question: question, node: node, bot: bot, waiting: waiting, n: n };
    this.turns.push(turn);
    return turn;
  };

  Chat.prototype.history = function (before) {
    var out = [];
    for (var i = 0; i < this.turns.length && this.turns[i] !== before; i++) {
      var turn = this.turns[i];
      if (turn.reply) {
        out.push({ role: "user", content: turn.question });
        out.push({ role: "assistant", content: turn.reply.answer || "" });
      }
    }
    var keep = this.config.max_history_messages || 20;
    return out.slice(-keep);
  };

  Chat.prototype.pump = function () {
    if (this.busy) return;
    var next = null;
    for (var i = 0; i < this.turns.length; i++) {
      if (!this.turns[i].reply && !this.turns[i].error && !this.turns[i].cancelled) {
        next = this.turns[i];
        break;
      }
    }
    if (!next) return;
    this.busy = true;
    var self = this;
    this.ask(next).then(function () {
      self.busy = false;
      self.pump();
    });
  };

  Chat.prototype.ask = function (turn) {
    var self = this, t = this.texts;
    var label = turn.waiting.querySelector(".rc-typing-label");
    label.textContent = t.typing;
    turn.waiting.classList.add("rc-answering");
    var abort = typeof AbortController === "function" ? new AbortController() : null;
    this.current = { turn: turn, abort: abort };
    var body = { question: turn.question, history: this.history(turn) };
    if (this.scope) body.scope = this.scope;
    var streamed = "";
    var final = null;
    var failure = null;

    return fetch(this.api + "/api/ask/stream", {
      method: "POST", credentials: "same-origin", signal: abort ? abort.signal : undefined,
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream",
                 "X-Chat-Client": "chat" },
      body: JSON.stringify(body)
    }).then(function (response) {
      self.setOnline(true);
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          failure = { message: data.message || t.failed, retry: response.status >= 429 };
        });
      }
      return readEvents(response, function (name, data) {
        if (turn.cancelled) return;
        if (name === "delta") {
          streamed += data.text || "";
          self.showDraft(turn, streamed);
        } else if (name === "final") {
          final = data;
        } else if (name === "error") {
          failure = { message: data.message || t.failed, retry: true };
        }
      });
    }).catch(function (error) {
      if (turn.cancelled || (error && error.name === "AbortError")) return;
      self.setOnline(false);
      failure = { message: t.unreachable, retry: true };
    }).then(function () {
      self.current = null;
      if (turn.cancelled) return;
      if (final) self.showReply(turn, final, true);
      else self.showError(turn, failure || { message: t.failed, retry: true }, true);
      self.save();
    });
  };

  // --- showing replies

  Chat.prototype.answerBox = function (turn) {
    if (!turn.answer) {
      turn.answer = el("div", { "class": "rc-answer" });
      turn.bot.appendChild(turn.answer);
    }
    return turn.answer;
  };

  Chat.prototype.showDraft = function (turn, text) {
    var first = !turn.answer;
    this.answerBox(turn).innerHTML = renderMarkdown(text);
    if (first) this.scrollToAnswer(turn);
  };

  Chat.prototype.showReply = function (turn, reply, fresh) {
    var t = this.texts, self = this;
    var first = !turn.answer;
    turn.reply = reply;
    turn.waiting.remove();
    var cited = {};
    (reply.citations || []).forEach(function (c) {
      cited[c.n] = format(t.cite_label, { n: c.n, section: sectionPath(c) });
    });
    this.answerBox(turn).innerHTML = renderMarkdown(reply.answer, cited);
    if (reply.note) turn.bot.appendChild(el("p", { "class": "rc-fallback" }, reply.note));
    var link = reply.abstained ? contactLink(this.config.contact || "") : null;
    if (link) {  // the refusal names the contact; an address also gets a link to it
      var hand = el("p", { "class": "rc-handoff" });
      hand.appendChild(el("span", {}, t.handoff + " "));
      hand.appendChild(el("a", link.attrs, link.text));
      turn.bot.appendChild(hand);
    }
    if ((reply.citations || []).length) turn.bot.appendChild(this.sources(turn, reply));
    turn.bot.appendChild(this.actions(turn, reply));
    var offered = reply.abstained ? (t.examples || []).slice(0, 3) : (reply.suggestions || []);
    if (offered.length) turn.bot.appendChild(this.suggestions(offered));
    turn.bot.setAttribute("aria-busy", "false");
    if (fresh) {
      if (first) this.scrollToAnswer(turn);
      this.announce(plainText(reply.answer));
    }
  };

  Chat.prototype.showError = function (turn, failure, fresh) {
    var self = this;
    turn.error = failure;
    turn.waiting.remove();
    var box = el("div", { "class": "rc-error", "role": fresh ? "alert" : null });
    box.appendChild(el("p", {}, failure.message));
    if (failure.retry) {
      var again = el("button", { "type": "button", "class": "rc-retry" }, this.texts.retry);
      again.addEventListener("click", function () {
        box.remove();
        if (turn.answer) { turn.answer.remove(); turn.answer = null; }
        turn.error = null;
        turn.bot.setAttribute("aria-busy", "true");
        turn.bot.appendChild(turn.waiting);
        self.save();
        self.pump();
      });
      box.appendChild(again);
    }
    turn.bot.appendChild(box);
    turn.bot.setAttribute("aria-busy", "false");
    if (fresh) this.scrollToAnswer(turn);
  };

  function contactLink(contact) {
    var mail = /[^\s@<>()]+@[^\s@<>()]+\.[a-z]{2,}/i.exec(contact);
    if (mail) return { text: mail[0], attrs: { "href": "mailto:" + mail[0] } };
    var url = /https?:\/\/[^\s<>()]+/i.exec(contact);
    if (url) return { text: url[0], attrs: { "href": url[0], "target": "_blank",
                                               "rel": "noopener noreferrer" } };
    return null;
  }

  function sectionPath(c) {
    return String(c.section || "").split(" > ").join(" › ");
  }

  function where(t, c) {
    return format(c.locator === "page" ? (t.source_where_page || t.source_where) : t.source_where,
                  { source: c.source, line_start: c.line_start, line_end: c.line_end });
  }

  Chat.prototype.sources = function (turn, reply) {
    var t = this.texts, id = this.id + "-t" + turn.n;
    var box = el("section", { "class": "rc-sources", "aria-labelledby": id + "-sh" });
    box.appendChild(el("h2", { "class": "rc-sources-title", "id": id + "-sh" }, t.sources));
    var list = el("ol", { "class": "rc-source-list" });
    (reply.citations || []).forEach(function (c) {
      var li = el("li", { "class": "rc-source", "id": id + "-s" + c.n, "data-n": String(c.n) });
      var toggle = el("button", { "type": "button", "class": "rc-source-toggle",
                                  "aria-expanded": "false", "aria-controls": id + "-b" + c.n });
      toggle.appendChild(el("span", { "class": "rc-source-n", "aria-hidden": "true" }, c.n));
      toggle.appendChild(el("span", { "class": "rc-sr" }, format(t.source_number, { n: c.n })));
      toggle.appendChild(el("span", { "class": "rc-source-name" }, sectionPath(c)));
      var body = el("div", { "class": "rc-source-body", "id": id + "-b" + c.n, "hidden": "" });
      var quote = el("blockquote");
      quote.innerHTML = renderMarkdown(c.text);
      body.appendChild(quote);
      body.appendChild(el("p", { "class": "rc-where" }, where(t, c)));
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(open));
        body.hidden = !open;
      });
      li.appendChild(toggle);
      li.appendChild(body);
      list.appendChild(li);
    });
    box.appendChild(list);
    return box;
  };

  Chat.prototype.openSource = function (node, n, focus) {
    if (!node) return;
    var item = node.querySelector('.rc-source[data-n="' + n + '"]');
    if (!item) return;
    var toggle = item.querySelector(".rc-source-toggle");
    var body = item.querySelector(".rc-source-body");
    toggle.setAttribute("aria-expanded", "true");
    body.hidden = false;
    item.classList.remove("rc-flash");
    void item.offsetWidth;  // restart the highlight animation
    item.classList.add("rc-flash");
    item.scrollIntoView({ block: "nearest", behavior: "smooth" });
    if (focus) toggle.focus({ preventScroll: true });
  };

  Chat.prototype.actions = function (turn, reply) {
    var t = this.texts, self = this;
    var bar = el("div", { "class": "rc-actions", "role": "group", "aria-label": t.actions_label });
    var copy = el("button", { "type": "button", "class": "rc-icon", "aria-label": t.copy,
                              "title": t.copy });
    copy.innerHTML = ICONS.copy;
    copy.addEventListener("click", function () {
      self.copy(self.cleanCopy(reply)).then(function (ok) {
        self.flashStatus(bar, ok ? t.copied : t.copy_failed);
      });
    });
    bar.appendChild(copy);
    if (reply.answer_id) {
      var up = el("button", { "type": "button", "class": "rc-icon rc-vote", "aria-pressed": "false",
                              "aria-label": t.like, "title": t.like, "data-vote": "up" });
      up.innerHTML = ICONS.up;
      var down = el("button", { "type": "button", "class": "rc-icon rc-vote",
                                "aria-pressed": "false", "aria-label": t.dislike,
                                "title": t.dislike, "data-vote": "down" });
      down.innerHTML = ICONS.down;
      [up, down].forEach(function (b) {
        b.addEventListener("click", function () { self.vote(turn, bar, b.getAttribute("data-vote")); });
      });
      bar.appendChild(up);
      bar.appendChild(down);
      if (turn.vote) this.markVote(bar, turn.vote);
    }
    bar.appendChild(el("span", { "class": "rc-action-status", "role": "status" }));
    return bar;
  };

  Chat.prototype.flashStatus = function (bar, text) {
    var status = bar.querySelector(".rc-action-status");
    status.textContent = text;
    window.clearTimeout(status._timer);
    status._timer = window.setTimeout(function () { status.textContent = ""; }, 4000);
  };

  Chat.prototype.markVote = function (bar, rating) {
    Array.prototype.forEach.call(bar.querySelectorAll(".rc-vote"), function (b) {
      var mine = b.getAttribute("data-vote") === rating;
      b.setAttribute("aria-pressed", String(mine));
    });
  };

  Chat.prototype.vote = function (turn, bar, rating) {
    var t = this.texts, self = this;
    if (turn.voting) return;
    if (turn.vote === rating) {  // the API keeps one rating per answer; it can be changed
      this.flashStatus(bar, t.feedback_thanks);
      return;
    }
    turn.voting = true;
    var reply = turn.reply;
    fetch(this.api + "/api/feedback", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Chat-Client": "chat" },
      body: JSON.stringify({ rating: rating, answer_id: reply.answer_id,
                             question: reply.question || turn.question, answer: reply.answer,
                             citations: reply.citations || [] })
    }).then(function (response) {
      if (response.ok) {
        turn.vote = rating;
        self.markVote(bar, rating);
        self.flashStatus(bar, t.feedback_thanks);
        self.save();
        return;
      }
      return response.json().catch(function () { return {}; }).then(function (data) {
        self.flashStatus(bar, data.message || t.failed);
      });
    }).catch(function () {
      self.setOnline(false);
      self.flashStatus(bar, t.unreachable);
    }).then(function () { turn.voting = false; });
  };

  Chat.prototype.cleanCopy = function (reply) {
    var t = this.texts;
    var text = plainText(reply.answer);
    var cites = reply.citations || [];
    if (!cites.length) return text;
    return text + "\n\n" + t.sources + ":\n" + cites.map(function (c) {
      return "[" + c.n + "] " + sectionPath(c) + " (" + where(t, c) + ")";
    }).join("\n");
  };

  Chat.prototype.copy = function (text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; },
                                                      function () { return fallbackCopy(text); });
    }
    return Promise.resolve(fallbackCopy(text));
  };

  function fallbackCopy(text) {
    var area = el("textarea", { "class": "rc-offscreen", "aria-hidden": "true",
                                "tabindex": "-1" });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }

  Chat.prototype.suggestions = function (questions) {
    var self = this;
    var box = el("div", { "class": "rc-suggestions", "role": "group",
                          "aria-label": this.texts.suggested });
    questions.forEach(function (q) {
      var b = el("button", { "type": "button", "class": "rc-chip" }, q);
      b.addEventListener("click", function () { self.submit(q); });
      box.appendChild(b);
    });
    return box;
  };

  // --- scrolling: the question shows at once; an answer shows from its start

  Chat.prototype.scrollToEnd = function () {
    this.log.scrollTop = this.log.scrollHeight;
  };

  Chat.prototype.scrollToAnswer = function (turn) {
    var log = this.log;
    var top = turn.node.getBoundingClientRect().top - log.getBoundingClientRect().top;
    log.scrollTop = Math.max(0, log.scrollTop + top - 8);
  };

  Chat.prototype.setOnline = function (online) {
    if (this.online === online) return;
    this.online = online;
    this.root.setAttribute("data-online", String(online));
    if (window.parent !== window) {
      window.parent.postMessage({ type: "role-assistant:status", online: online }, "*");
    }
  };

  // Server-sent events from a fetch response (EventSource cannot POST).
  function readEvents(response, onEvent) {
    if (!response.body || !response.body.getReader) {
      return response.text().then(function (text) { parseEvents(text + "\n\n", onEvent); });
    }
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) {
          parseEvents(buffer + "\n\n", onEvent);
          return;
        }
        buffer += decoder.decode(chunk.value, { stream: true });
        buffer = buffer.replace(/\r\n?/g, "\n");
        var end = buffer.lastIndexOf("\n\n");
        if (end >= 0) {
          parseEvents(buffer.slice(0, end + 2), onEvent);
          buffer = buffer.slice(end + 2);
        }
        return pump();
      });
    }
    return pump();
  }

  function parseEvents(text, onEvent) {
    text.replace(/\r\n?/g, "\n").split("\n\n").forEach(function (block) {
      if (!block.trim()) return;
      var name = "message", data = [];
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) name = line.slice(6).trim();
        else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
      });
      if (!data.length) return;
      var parsed;
      try { parsed = JSON.parse(data.join("\n")); } catch (e) { return; }
      onEvent(name, parsed);
    });
  }

  // ---------------------------------------------------------------------------------------
  // mounting: <div data-role-chat='{"texts": ..., "scope": ...}'></div>

  function mount(node, config) {
    if (node.roleChat) return node.roleChat;
    if (!config) {
      try { config = JSON.parse(node.getAttribute("data-role-chat") || "{}"); }
      catch (e) { config = {}; }
    }
    node.roleChat = new Chat(node, config);
    return node.roleChat;
  }

  function mountAll() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-role-chat]"), function (n) {
      mount(n);
    });
  }

  window.RoleChat = { mount: mount, mountAll: mountAll, renderMarkdown: renderMarkdown,
                      plainText: plainText };
  mountAll();
  // Gradio renders its components after this script runs: mount them as they appear
  var scheduled = false;
  new MutationObserver(function () {
    if (scheduled) return;
    scheduled = true;
    window.requestAnimationFrame(function () { scheduled = false; mountAll(); });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
