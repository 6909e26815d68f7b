"""Optional LLM judge (faithfulness, answer relevance) through an OpenAI-compatible endpoint.

Any server that speaks the chat-completions protocol works (llama.cpp's
`python -m llama_cpp.server`, vLLM, a hosted API). Without one configured the judge is
skipped with a message; an evaluation never depends on it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from assistant.settings import Settings

log = logging.getLogger(__name__)

PROMPT = """You grade an assistant's answer about a job role. Use only the sources.
Sources:
{sources}

Question: {question}
Answer: {answer}

Reply with JSON only: {{"faithfulness": <0..1, share of the answer's claims the sources \
support>, "relevance": <0..1, how directly the answer addresses the question>}}"""


class JudgeUnavailable(RuntimeError):
    """No LLM backend is configured or it cannot be reached."""


class Judge:
    """Scores answers with an LLM; returns None scores when the reply cannot be parsed."""

    def __init__(self, settings: Settings):
        if not settings.llm_base_url:
            raise JudgeUnavailable(
                "no LLM backend configured (set ASSISTANT_LLM_BASE_URL to an OpenAI-compatible "
                "server, e.g. `python -m llama_cpp.server --model FILE`)")
        import httpx

        self.settings = settings
        self.client = httpx.Client(base_url=settings.llm_base_url.rstrip("/"), timeout=60.0)

    def score(self, question: str, answer: str, sources: list[str]) -> dict[str, Any]:
        prompt = PROMPT.format(sources="\n---\n".join(sources) or "(none)", question=question,
                               answer=answer)
        headers = {"Authorization": f"Bearer {self.settings.llm_api_key}"} \
            if self.settings.llm_api_key else {}
        try:
            response = self.client.post("/chat/completions", headers=headers, json={
                "model": self.settings.llm_model, "temperature": 0,
                "messages": [{"role": "user", "content": prompt}],
            })
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"]
        except Exception as exc:  # noqa: BLE001 - the judge is optional; record why it failed
            return {"faithfulness": None, "relevance": None, "error": str(exc)[:200]}
        match = re.search(r"\{.*\}", text, re.DOTALL)
        try:
            data = json.loads(match.group(0)) if match else {}
            return {k: _unit(data.get(k)) for k in ("faithfulness", "relevance")}
        except ValueError:
            return {"faithfulness": None, "relevance": None, "error": "unparseable judge reply"}


def _unit(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return min(1.0, max(0.0, number))
