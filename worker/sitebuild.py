"""The old name of ``worker.templatekit``, kept so templates written against ``worker.sitebuild``
still import. New code imports ``worker.templatekit`` (templates) or one of its modules (the
worker)."""

from __future__ import annotations

from worker.templatekit import *  # noqa: F403
from worker.templatekit import __all__ as __all__
