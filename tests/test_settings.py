"""Settings: one typed object, every field described, the README's table generated from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_says_what_it_does():
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 15, name


def test_the_readme_table_is_generated_from_settings():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "settings_table.py"),
                             "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_environment_variables_set_any_field(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ASSISTANT_MIN_RELEVANCE", "0.3")
    monkeypatch.setenv("ASSISTANT_VOCABULARY_FILE", "/tmp/vocab.toml")
    settings = Settings()
    assert settings.min_relevance == 0.3
    assert settings.vocabulary_file == Path("/tmp/vocab.toml")
