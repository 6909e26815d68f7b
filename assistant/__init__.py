"""Grounded, cited answers to candidates' questions about open roles, from their documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.core import Assistant
    from assistant.settings import Settings
    from assistant.types import Citation, Context, Reply

__all__ = ["Assistant", "Settings", "Reply", "Citation", "Context"]


def __getattr__(name: str) -> Any:
    """Import lazily so that `import assistant` stays cheap for the CLI and tests."""
    if name == "Assistant":
        from assistant.core import Assistant

        return Assistant
    if name == "Settings":
        from assistant.settings import Settings

        return Settings
    if name in ("Reply", "Citation", "Context"):
        from assistant import types

        return getattr(types, name)
    raise AttributeError(name)
