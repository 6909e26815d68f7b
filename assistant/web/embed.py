"""The embed page for HR (/embed: snippets to copy, the current settings, live previews), the
snippets it offers, and the widget's static files."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import Request
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from assistant.settings import Settings, WidgetTheme

if TYPE_CHECKING:
    from assistant.web.service import Service


@dataclass
class Snippets:
    web_component: str
    iframe: str
    script: str


def chat_url(base: str, theme: WidgetTheme = "system", scope: str | None = None) -> str:
    """The embedded chat's address (widget panel, iframe snippet, /embed preview) for a server at
    `base`. Gradio reads the colour scheme from `__theme`; without it, it follows the browser's
    prefers-color-scheme (and its changes), which is what theme 'system' means."""
    from urllib.parse import quote

    forced = "" if theme == "system" else f"&__theme={theme}"
    return f"{base}/?embed=1{forced}" + (f"&scope={quote(scope)}" if scope else "")


def snippets(base: str, title: str, scope: str | None = None,
             theme: WidgetTheme = "system") -> Snippets:
    """The three ways HR can put the chat on a page, for a server at `base`; with `scope`, the
    chat answers from that role's document only (the snippet for that role's posting); `theme`
    is Settings.widget_theme (the widget's script reads it from the server instead)."""
    t = html.escape(title, quote=True)
    attribute = f' data-scope="{html.escape(scope, quote=True)}"' if scope else ""
    # <gradio-app theme_mode="..."> is the web component's own spelling of __theme
    mode = "" if theme == "system" else f' theme_mode="{theme}"'
    app = html.escape(chat_url(base, scope=scope) if scope else f"{base}/", quote=True)
    return Snippets(
        web_component=(f'<script type="module" src="{base}/gradio.js"></script>\n'
                       f'<gradio-app src="{app}"{mode}></gradio-app>'),
        iframe=(f'<iframe src="{html.escape(chat_url(base, theme, scope), quote=True)}" '
                f'title="{t}" '
                'style="width:100%;max-width:720px;height:640px;border:0;border-radius:16px" '
                'allow="clipboard-write"></iframe>'),
        script=f'<script src="{base}/widget.js"{attribute} async></script>',
    )


def static_text(name: str) -> str:
    """A file of assistant/static (the widget's script and stylesheet)."""
    return resources.files("assistant").joinpath(f"static/{name}").read_text("utf-8")


@cache
def _templates() -> Environment:
    """assistant/templates; autoescape escapes every value not marked |safe."""
    return Environment(loader=PackageLoader("assistant", "templates"),
                       autoescape=select_autoescape(["html"]), finalize=_escaped,
                       keep_trailing_newline=True)


def _escaped(value: Any) -> Any:
    """Autoescape with html.escape's spelling (&quot;, &#x27;) rather than markupsafe's (&#34;,
    &#39;), so the page's bytes stay as they were: a plain string is escaped here, Markup (|safe)
    passes as it is, and anything else is left to autoescape."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return Markup(html.escape(value))
    return value


def embed_page(service: Service, base: str) -> str:
    """The /embed page: snippets to copy, the current HR settings and live previews."""
    settings, texts = service.settings, service.widget_texts
    title = service.title_for()
    snips = snippets(base, title, theme=settings.widget_theme)
    roles = [{"title": r["title"], "source": r["source"],
              "script": snippets(base, r["title"], r["source"]).script}
             for r in service.roles()]
    return _templates().get_template("embed.html").render(
        title=title,
        roles=roles,
        base=base,
        accent=settings.accent_color,
        theme=settings.widget_theme,
        accent_dark=_shade(settings.accent_color),
        accent_soft=_tint(settings.accent_color),
        welcome=service.welcome_for(),
        examples=texts["examples"],
        contact=settings.contact,
        origins=settings.allowed_origins,
        rate_limit=str(settings.rate_limit_per_minute or "no limit"),
        snippet_component=snips.web_component,
        snippet_iframe=snips.iframe,
        snippet_script=snips.script,
        # JavaScript string literals, inserted unescaped (|safe) inside <script> only
        preview_iframe_js=_js(chat_url(base, settings.widget_theme)),
        component_js=_js(f"{base}/gradio.js"),
        base_js=_js(base),
        theme_js=_js(settings.widget_theme),
    )


def _js(value: str) -> str:
    """A JavaScript string literal safe inside an HTML <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")


def _shade(colour: str) -> str:
    from assistant.ui import palette

    return palette(colour)["c800"]


def _tint(colour: str) -> str:
    from assistant.ui import palette

    return palette(colour)["c50"]


def base_url(settings: Settings, request: Request) -> str:
    """Where browsers reach this server: Settings.public_url, else the address in use."""
    if settings.public_url:
        return settings.public_url
    return str(request.base_url).rstrip("/")
