"""The candidates' chat (Gradio Blocks): streamed answers, expandable sources, feedback.

A thin client of the server's `Service` (which calls `Assistant.ask`): no retrieval or answering
logic lives here, only presentation. Everything shown from the documents passes through
`safe_markdown`, so a passage can never inject HTML, scripts or remote images.
(No `from __future__ import annotations`: Gradio reads gr.Request / gr.LikeData annotations.)
"""

import html
import logging
import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import TYPE_CHECKING, Any

from assistant.types import AssistantError, Reply

if TYPE_CHECKING:
    import gradio as gr

    from assistant.server import Service

log = logging.getLogger(__name__)

_LINK_TARGET = re.compile(r"\]\((?!\s*(?:https?://|mailto:|#))", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# rendering (pure functions, unit-tested)


def safe_markdown(text: str) -> str:
    """Markdown made inert: HTML shows as text, no images, links only to http(s) and mailto.

    The chatbot's own sanitiser (sanitize_html) stays on as a second layer.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = text.replace("![", "!\\[")  # ![alt](src) and ![alt][ref] stay literal text
    return _LINK_TARGET.sub("]\\(", text)  # [x](javascript:...) stays literal text


def quote(text: str) -> str:
    """A passage as a markdown block quote."""
    lines = [line.rstrip() for line in safe_markdown(text).splitlines()]
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def source_messages(reply: Reply, texts: dict[str, str]) -> list[dict[str, Any]]:
    """One collapsed "thought" per citation: title [n] section, body the quoted passage."""
    out = []
    for c in reply.citations:
        title = texts["source_title"].format(n=c.n, section=c.section.replace(" > ", " › "))
        title = safe_markdown(" ".join(title.split()))  # titles are rendered as markdown too
        where = texts["source_where"].format(source=c.source, line_start=c.line_start,
                                             line_end=c.line_end)
        out.append({
            "role": "assistant",
            "content": f"{quote(c.text)}\n\n*{safe_markdown(where)}*",
            "metadata": {"title": title, "status": "done"},
        })
    return out


def message_text(message: dict[str, Any]) -> str:
    """The text of a chatbot message, whichever content shape Gradio gives it."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return ""


# ---------------------------------------------------------------------------------------------
# theme and page chrome


def _mix(hex_colour: str, other: str, amount: float) -> str:
    a = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * amount):02x}" for x, y in zip(a, b, strict=True))


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
        button_primary_text_color="#ffffff",
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
JS = """
() => {
  const params = new URLSearchParams(window.location.search);
  const root = document.documentElement;
  if (window.__gradio_mode__ === "app") root.classList.add("ra-fill");
  if (params.has("embed")) root.classList.add("ra-embedded");
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

    settings = service.settings
    texts = service.widget_texts
    examples = texts["examples"]
    roles = service.roles()
    title = service.title_for()
    welcome = service.welcome_for()

    def history_of(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
        keep = max(settings.max_history_turns // 2, 0)
        recent = turns[-keep:] if keep else []
        return [m for t in recent for m in ({"role": "user", "content": t["question"]},
                                            {"role": "assistant", "content": t["answer"]})]

    async def respond(message: str, chat: list[dict[str, Any]] | None,
                      turns: list[dict[str, Any]] | None, role: str | None,
                      request: gr.Request) -> AsyncIterator[tuple[Any, Any, Any]]:
        """Ask, then show the answer progressively and its sources as collapsed passages."""
        chat = list(chat or [])
        turns = list(turns or [])
        question = (message or "").strip()
        if not question:
            yield chat, turns, ""
            return
        chat.append({"role": "user", "content": safe_markdown(question)})
        yield chat, turns, ""
        first = len(chat)
        text = ""
        reply: Reply | None = None
        try:  # the model's text shows as it is made; the guarded reply replaces it at the end
            async for event in service.stream(question, history_of(turns), channel="ui",
                                              client=service.client_of(request),
                                              scope=role or None):
                if isinstance(event, Reply):
                    reply = event
                    continue
                if len(chat) == first:
                    chat.append({"role": "assistant", "content": ""})
                text += event
                chat[first] = {"role": "assistant", "content": safe_markdown(text)}
                yield chat, turns, gr.skip()
        except AssistantError as exc:
            del chat[first:]
            chat.append({"role": "assistant", "content": safe_markdown(exc.message)})
            yield chat, turns, gr.skip()
            return
        assert reply is not None
        del chat[first:]
        chat.append({"role": "assistant", "content": safe_markdown(reply.answer) + (
            f"\n\n*{safe_markdown(reply.note)}*" if reply.note else "")})
        chat.extend(source_messages(reply, texts))
        offered = reply.suggestions if not reply.abstained else examples[:3]
        if offered:  # follow-ups from nearby sections; after a refusal, the examples. Gradio
            # shows the options of the turn's last message (after the sources)
            chat[-1]["options"] = [{"value": q, "label": q} for q in offered]
        turns.append({"question": reply.question, "answer": reply.answer,
                      "abstained": reply.abstained, "answer_id": service.answer_id(reply),
                      "citations": [c.to_dict() for c in reply.citations],
                      "first": first, "last": len(chat) - 1})
        yield chat, turns, gr.skip()

    async def on_feedback(turns: list[dict[str, Any]] | None, data: gr.LikeData,
                          request: gr.Request) -> None:
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn = next((t for t in turns or [] if t["first"] <= index <= t["last"]), None)
        if turn is None or data.liked not in (True, False):
            return  # feedback removed again, or on something that is not an answer
        try:
            await service.feedback("up" if data.liked else "down", turn["question"],
                                   turn["answer"], turn["citations"], channel="ui",
                                   answer_id=turn.get("answer_id"),
                                   client=service.client_of(request))
        except AssistantError as exc:
            gr.Warning(exc.message, duration=4)
            return
        gr.Info(texts["feedback_thanks"], duration=2)

    def picked(data: gr.SelectData) -> str:
        value = data.value
        return str(value.get("text", "") if isinstance(value, dict) else value)

    def clear() -> tuple[list[Any], list[Any], str]:
        return [], [], ""

    def choices() -> list[tuple[str, str]]:
        return [(texts["all_roles_choice"], "")] + [(r["title"], r["source"])
                                                     for r in service.roles()]

    def on_load(request: gr.Request) -> tuple[Any, Any]:
        """The role picker, fresh from the index in service; `?scope=` (a role's posting)
        fixes the role and hides the picker."""
        asked = (request.query_params.get("scope") or "").strip() if request else ""
        options = choices()
        known = {value for _, value in options} | {label for label, _ in options}
        if asked and asked in known:
            value = next((v for label, v in options if asked in (label, v)), "")
            return (gr.update(choices=options, value=value, visible=False),
                    header_html(service.title_for(value), texts["subtitle"]))
        return (gr.update(choices=options, value="", visible=len(options) > 2),
                header_html(service.title_for(), texts["subtitle"]))

    with gr.Blocks(title=title, fill_height=True, analytics_enabled=False) as demo:
        header = gr.HTML(header_html(title, texts["subtitle"]), padding=False,
                         js_on_load=None, elem_id="ra-top")
        role = gr.Dropdown(
            choices=[(texts["all_roles_choice"], "")] + [(r["title"], r["source"]) for r in roles],
            value="", label=texts["role_picker"], visible=len(roles) > 1, interactive=True,
            elem_id="ra-role", container=True, scale=0)
        chatbot = gr.Chatbot(
            elem_id="ra-chat", show_label=False, scale=1, height="100%", min_height=320,
            placeholder=welcome, examples=[{"text": q} for q in examples],
            layout="bubble", render_markdown=True, sanitize_html=True, allow_tags=False,
            line_breaks=True, buttons=["copy"], feedback_options=("Like", "Dislike"),
            group_consecutive_messages=True, autoscroll=True,
        )
        turns = gr.State([])
        with gr.Row(elem_id="ra-input", equal_height=True):
            textbox = gr.Textbox(  # the label stays for screen readers, not shown
                label=texts["question_label"], show_label=False, placeholder=texts["placeholder"],
                scale=1, lines=1,
                max_lines=6, max_length=settings.max_question_chars, autofocus=True,
                submit_btn=texts["send"], container=False, elem_id="ra-question",
            )
            clear_btn = gr.Button(texts["clear"], variant="secondary", size="md", scale=0,
                                  elem_id="ra-clear")
        gr.Markdown(texts["disclaimer"], elem_id="ra-note")

        textbox.submit(respond, [textbox, chatbot, turns, role], [chatbot, turns, textbox],
                       api_name="ask", show_progress="minimal")
        chatbot.example_select(picked, None, textbox, queue=False, api_visibility="private") \
            .then(respond, [textbox, chatbot, turns, role], [chatbot, turns, textbox],
                  show_progress="minimal", api_visibility="private")
        chatbot.option_select(picked, None, textbox, queue=False, api_visibility="private") \
            .then(respond, [textbox, chatbot, turns, role], [chatbot, turns, textbox],
                  show_progress="minimal", api_visibility="private")
        # another role is another conversation
        role.change(clear, None, [chatbot, turns, textbox], queue=False,
                    api_visibility="private")
        demo.load(on_load, None, [role, header], queue=False, api_visibility="private")
        chatbot.like(on_feedback, [turns], None, queue=False, api_visibility="private")
        clear_btn.click(clear, None, [chatbot, turns, textbox], queue=False,
                        api_visibility="private")
        chatbot.clear(clear, None, [chatbot, turns, textbox], queue=False,
                      api_visibility="private")
    return demo
