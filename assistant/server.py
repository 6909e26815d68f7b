"""HTTP server: a Gradio chat for candidates (the full widget and API come with issue 4)."""

from __future__ import annotations

import logging
from typing import Any

from assistant.settings import Settings
from assistant.types import AssistantError

log = logging.getLogger(__name__)


def render(reply: Any) -> str:
    """The answer plus a numbered source list, as markdown."""
    if not reply.citations:
        return reply.answer
    sources = "\n".join(f"[{c.n}] {c.source}, {c.section} (lines {c.line_start}-{c.line_end})"
                        for c in reply.citations)
    return f"{reply.answer}\n\n**Sources**\n\n{sources}"


def create_chat(bot: Any) -> Any:
    """A plain Gradio chat around `bot.ask`."""
    import gradio as gr

    def respond(message: str, history: list[dict[str, Any]]) -> str:
        turns = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str)
                  else str(m["content"])} for m in history]
        try:
            return render(bot.ask(message, history=turns))
        except AssistantError as exc:
            return exc.message

    return gr.ChatInterface(respond, title="Senior Machine Learning Scientist: ask the role docs")


def run(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Open (or build) the index and serve the chat until interrupted."""
    from assistant.core import Assistant

    bot = Assistant.from_settings(settings)
    create_chat(bot).queue(default_concurrency_limit=4).launch(
        server_name=host, server_port=port, share=False, show_api=False)
