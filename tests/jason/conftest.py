"""Fixtures for Jason's speech tests: one recognizer and one synthesized-audio cache per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.jason import corpus
from worker.jason.recognizer import Recognizer


@pytest.fixture(scope="session")
def audio_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jason-audio")


@pytest.fixture(scope="session")
def recognizer() -> Iterator[Recognizer]:
    rec = Recognizer(corpus.PROJECTS, corpus.TEMPLATES, corpus.NEW_PROJECTS)
    yield rec
    rec.close()
