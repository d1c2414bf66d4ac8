"""The AI settings: TITAN_AI_* win over the older JASON_LLM_* names; the key is a secret."""

from __future__ import annotations

import pytest

from worker.config import Settings


def test_titan_names_win_over_jason_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JASON_LLM_URL", "http://old:11434/v1")
    monkeypatch.setenv("JASON_LLM_MODEL", "old-model")
    assert (Settings().ai_url, Settings().ai_model) == ("http://old:11434/v1", "old-model")
    monkeypatch.setenv("TITAN_AI_URL", "http://new:11434/v1")
    monkeypatch.setenv("TITAN_AI_MODEL", "new-model")
    assert (Settings().ai_url, Settings().ai_model) == ("http://new:11434/v1", "new-model")


def test_the_key_is_scrubbed_from_logs_and_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_AI_KEY", "sk-live-abcdef")
    settings = Settings()
    assert "sk-live-abcdef" in settings.secret_values()
    assert "sk-live-abcdef" not in repr(settings)
