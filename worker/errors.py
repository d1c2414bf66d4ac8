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


# -- why a job failed ------------------------------------------------------------------------
# Raised by job handlers and templates; the runner decides from the class whether to retry.


class PermanentError(Exception):
    """A failure retrying cannot fix (bad spec, missing template): the job goes straight to dead."""


class DiskFull(RuntimeError):
    """No space left where output goes. Retried like any passing failure: freeing space is
    enough, and the next attempt (or ``titan project retry``) publishes."""


class ToolFailed(PermanentError):
    """A build tool exited non-zero. Retrying the same sources gives the same answer, so the job
    goes straight to dead; the message carries the tool's last lines of output so they land in
    the job's last_error, the project's last_error and the Logs tab."""


class ServiceFailed(PermanentError):
    """A deployed service exited before it answered (a crash at start-up, not a port clash)."""


class RenderError(PermanentError):
    """A template file failed to render (syntax error, undefined variable): names file and line."""
