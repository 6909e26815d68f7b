"""The candidates' chat page: a Gradio Blocks page (theme, header, role picker, the Gradio API)
hosting the chat client (assistant/static/chat.js) in a gr.HTML element.

The client talks to the server's own API (/api/ask/stream, /api/feedback), like the widget and
any other client; this module builds only the page and the client's configuration. Why the
client is hand-written instead of gr.Chatbot is explained at the top of chat.js.
(No `from __future__ import annotations`: Gradio reads gr.Request annotations.)
"""

import html
import json
import logging
from importlib import resources
from typing import TYPE_CHECKING, Any

from assistant.types import AssistantError

if TYPE_CHECKING:
    import gradio as gr

    from assistant.web.service import Service

log = logging.getLogger(__name__)

# the [widget] texts the client shows (HR edits them in the texts file)
CLIENT_TEXTS = (
    "welcome", "examples", "try_asking", "placeholder", "question_label", "send", "clear",
    "disclaimer", "feedback_thanks", "source_where", "source_where_page", "conversation_label",
    "you_said", "queued", "typing", "sources", "source_number", "cite_label", "actions_label",
    "copy", "copied", "copy_failed", "like", "dislike", "suggested", "retry", "failed",
    "unreachable", "handoff", "empty_question", "cleared",
)


def chat_config(service: "Service", scope: str | None = None) -> dict[str, Any]:
    """What the chat client needs: its texts, the role in scope and the input limits."""
    settings = service.settings
    texts = {k: service.widget_texts[k] for k in CLIENT_TEXTS if k in service.widget_texts}
    texts["welcome"] = service.welcome_for(scope)
    return {"texts": texts, "scope": scope or "", "contact": settings.contact,
            "on_accent": text_on(settings.accent_color),
            "max_chars": settings.max_question_chars,
            "max_history_messages": min(settings.max_history_messages,
                                        settings.max_history_turns)}


def chat_html(config: dict[str, Any]) -> str:
    """The element chat.js mounts on; the configuration rides along as escaped JSON."""
    return f"<div class='ra-chat-mount' data-role-chat='{html.escape(json.dumps(config))}'></div>"


# ---------------------------------------------------------------------------------------------
# theme and page chrome


def _mix(hex_colour: str, other: str, amount: float) -> str:
    a = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * amount):02x}" for x, y in zip(a, b, strict=True))


def luminance(hex_colour: str) -> float:
    """WCAG relative luminance of #rrggbb."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(hex_colour[i:i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_on(background: str) -> str:
    """White or near-black, whichever reads better on `background` (HR may pick a light
    brand colour, on which white text would fail WCAG AA)."""
    dark = "#0f172a"
    light_bg = luminance(background)
    on_white = (1.05) / (light_bg + 0.05)
    on_dark = (light_bg + 0.05) / (luminance(dark) + 0.05)
    return "#ffffff" if on_white >= on_dark else dark


def palette(accent: str) -> dict[str, str]:
    """Eleven shades around the accent colour (Gradio's c50..c950), accent at c600."""
    white, black = "#ffffff", "#000000"
    return {
        "c50": _mix(accent, white, 0.94), "c100": _mix(accent, white, 0.88),
        "c200": _mix(accent, white, 0.75), "c300": _mix(accent, white, 0.55),
        "c400": _mix(accent, white, 0.3), "c500": _mix(accent, white, 0.12),
        "c600": accent, "c700": _mix(accent, black, 0.15), "c800": _mix(accent, black, 0.3),
        "c900": _mix(accent, black, 0.45), "c950": _mix(accent, black, 0.6),
    }


def make_theme(accent: str) -> Any:
    """A light theme in the brand colour with system fonts (nothing fetched from the web)."""
    import gradio as gr

    primary = gr.themes.Color(**palette(accent), name="brand")
    theme = gr.themes.Base(
        primary_hue=primary, neutral_hue=gr.themes.colors.slate,
        radius_size=gr.themes.sizes.radius_lg, text_size=gr.themes.sizes.text_md,
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto",
              "Helvetica Neue", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )
    return theme.set(
        body_background_fill="#f6f7fb",
        body_background_fill_dark="#0f1117",
        block_border_width="0px",
        block_shadow="none",
        button_primary_background_fill=accent,
        button_primary_background_fill_hover=palette(accent)["c700"],
        button_primary_text_color=text_on(accent),
        color_accent=accent,
        color_accent_soft=palette(accent)["c50"],
        link_text_color=accent,
        link_text_color_hover=palette(accent)["c700"],
        input_border_color_focus=palette(accent)["c300"],
    )


def chat_css() -> str:
    """The chat's stylesheet (assistant/static/chat.css); colours come from the theme."""
    return resources.files("assistant").joinpath("static/chat.css").read_text("utf-8")


# "ra-fill": the chat is the whole page (not a web component in a host page): fill the screen;
# "ra-embedded": shown in the widget or an iframe (?embed=1): no header, tighter margins
JS = r"""
() => {
  const params = new URLSearchParams(window.location.search);
  const root = document.documentElement;
  if (window.__gradio_mode__ === "app") root.classList.add("ra-fill");
  if (params.has("embed")) root.classList.add("ra-embedded");
  if (!window.RoleChat && !document.getElementById("ra-chat-js")) {
    // the chat client, from this server (the page's own, or the web component's src)
    const app = document.querySelector("gradio-app[src]");
    const base = app ? new URL(app.getAttribute("src"), window.location.href).href
      .replace(/[?#].*$/, "").replace(/\/$/, "") : "";
    const script = document.createElement("script");
    script.id = "ra-chat-js";
    script.src = base + "/chat.js";
    document.head.appendChild(script);
  }
}
"""

LOGO = ("<svg width='24' height='24' viewBox='0 0 24 24' fill='none' stroke='currentColor' "
        "stroke-width='2' stroke-linecap='round' stroke-linejoin='round' aria-hidden='true'>"
        "<path d='M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z'/>"
        "<path d='M8 9h8M8 13h5'/></svg>")


def header_html(title: str, subtitle: str) -> str:
    return (f"<div id='ra-header'><div class='ra-logo'>{LOGO}</div><div>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></div></div>")


# ---------------------------------------------------------------------------------------------
# the app


def create_ui(service: "Service") -> "gr.Blocks":
    """The chat page; `service` answers, limits, counts and stores feedback."""
    import gradio as gr

    texts = service.widget_texts
    roles = service.roles()
    title = service.title_for()

    def choices() -> list[tuple[str, str]]:
        return [(texts["all_roles_choice"], "")] + [(r["title"], r["source"])
                                                     for r in service.roles()]

    def on_load(request: gr.Request) -> tuple[Any, Any, Any]:
        """The role picker, fresh from the index in service, and the chat for the role asked
        for: `?scope=` (a role's posting) fixes the role and hides the picker."""
        asked = (request.query_params.get("scope") or "").strip() if request else ""
        options = choices()
        known = {value for _, value in options} | {label for label, _ in options}
        if asked and asked in known:
            value = next((v for label, v in options if asked in (label, v)), "")
            return (gr.update(choices=options, value=value, visible=False),
                    header_html(service.title_for(value), texts["subtitle"]),
                    chat_html(chat_config(service, value)))
        return (gr.update(choices=options, value="", visible=len(options) > 2),
                header_html(service.title_for(), texts["subtitle"]),
                chat_html(chat_config(service)))

    async def ask(question: str, history: list[dict[str, str]] | None = None,
                  scope: str | None = None, request: gr.Request | None = None
                  ) -> dict[str, Any]:
        """The reply as /api/ask gives it, for gradio_client users."""
        try:
            reply = await service.ask(question, history or [], channel="ui", scope=scope or None,
                                      client=service.client_of(request))
        except AssistantError as exc:
            raise gr.Error(exc.message, print_exception=False) from None
        return service.reply_dict(reply)

    with gr.Blocks(title=title, fill_height=True, analytics_enabled=False) as demo:
        header = gr.HTML(header_html(title, texts["subtitle"]), padding=False,
                         js_on_load=None, elem_id="ra-top")
        role = gr.Dropdown(
            choices=[(texts["all_roles_choice"], "")] + [(r["title"], r["source"]) for r in roles],
            value="", label=texts["role_picker"], visible=len(roles) > 1, interactive=True,
            elem_id="ra-role", container=True, scale=0)
        # filled in on load, once the role in scope is known; chat.js mounts on it
        chat = gr.HTML("", elem_id="ra-chat", js_on_load=None, padding=False, scale=1)
        gr.api(ask, api_name="ask")
        demo.load(on_load, None, [role, header, chat], queue=False, api_visibility="private")
        # another role is another conversation (each role keeps its own in the browser)
        role.change(lambda scope: header_html(service.title_for(scope or None),
                                              texts["subtitle"]),
                    [role], [header], queue=False, api_visibility="private", js="""
            (scope) => {
              const node = document.querySelector(".ra-chat-mount");
              if (node && node.roleChat) node.roleChat.setScope(scope || "");
              return scope;
            }""")
    return demo
