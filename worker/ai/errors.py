"""AI errors: each reads as one line a person can act on (the CLI prints it as is)."""

from __future__ import annotations

from worker.errors import InvalidInput, TitanError


class AIError(TitanError):
    """A call to the AI endpoint failed; the message is one line and never holds the key."""


class AIConfigError(InvalidInput, AIError):
    """A setting is missing or contradicts another (a usage error: exit 2 on the CLI)."""


class AIOff(AIError):
    """No endpoint is configured and the local model is not installed."""


class AIUnreachable(AIError):
    pass


class AIAuthError(AIError):
    pass


class AIModelNotFound(AIError):
    pass


class AITimeout(AIError):
    pass


class AIRequestFailed(AIError):
    """The endpoint answered with an error (a 4xx, or a 429/5xx that outlasted the retries)."""


class AIInvalidAnswer(AIError):
    """The answer did not validate against the requested schema, even after one repair."""


class BudgetExceeded(AIError):
    """The project has spent its token budget; no call was made."""
