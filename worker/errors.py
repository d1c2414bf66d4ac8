"""Errors the services raise; the CLI, API and GUI each turn them into their own answer."""

from __future__ import annotations


class TitanError(Exception):
    """Base class for errors a person should read."""


class InvalidInput(TitanError):
    """Bad input: names the field so the form, the API (422) and the CLI (exit 2) can say so."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(TitanError):
    pass


class Conflict(TitanError):
    """The request clashes with existing state (a duplicate slug, a step already running)."""
