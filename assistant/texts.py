"""User-facing texts, loaded from assistant/data/texts.toml or an override file."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and key in out else value
    return out


@lru_cache(maxsize=8)
def load_texts(override: Path | None = None) -> dict[str, Any]:
    """The default texts, with any keys from `override` replacing them."""
    default = resources.files("assistant").joinpath("data/texts.toml").read_text("utf-8")
    texts = tomllib.loads(default)
    if override is not None:
        texts = _merge(texts, tomllib.loads(Path(override).read_text("utf-8")))
    return texts
