"""The template kit: helpers templates share, one module per concern.

- ``files``: atomic folder swaps, checksums, copies into OUTPUT_DIR, serving a site, zip archives
- ``links``: link checks on a built site, GET-and-check of a served page
- ``tools``: build tools with their output kept, clean environments, fast venvs
- ``render``: source trees rendered with Jinja2
- ``services``: long-running services a deploy starts and stops
- ``testing``: a generated project's own test suite as its build step
- ``wheels``: a Python project's deploy: its wheel, built into OUTPUT_DIR

Templates import from here (``from worker.templatekit import render_tree, run_tool``); the
worker's own modules import the one module they need. The kit imports only ``worker.errors``,
``worker.slugs`` and (lazily) ``worker.sitehost`` / ``worker.templates``, never the job
handlers, so no import circle runs through it.
"""

from __future__ import annotations

from worker.errors import DiskFull, PermanentError, RenderError, ServiceFailed, ToolFailed
from worker.slugs import python_identifier, slugify
from worker.templatekit.files import (
    copy_to_output,
    output_error,
    publish_archive,
    replace_dir,
    serve_and_url,
    sha256_of,
)
from worker.templatekit.links import check_links, verify_page
from worker.templatekit.render import render_tree
from worker.templatekit.services import (
    ensure_service,
    free_port,
    port_is_free,
    service_state,
    start_service,
    stop_all_services,
    stop_service,
)
from worker.templatekit.testing import run_project_tests
from worker.templatekit.tools import (
    TAIL_CHARS,
    TAIL_LINES,
    make_venv,
    output_tail,
    pip_command,
    run_tool,
    tool_env,
)

__all__ = [
    "TAIL_CHARS", "TAIL_LINES", "DiskFull", "PermanentError", "RenderError", "ServiceFailed",
    "ToolFailed", "check_links", "copy_to_output", "ensure_service", "free_port", "make_venv",
    "output_error", "output_tail", "pip_command", "port_is_free", "publish_archive",
    "python_identifier", "render_tree", "replace_dir", "run_project_tests", "run_tool",
    "serve_and_url", "service_state", "sha256_of", "slugify", "start_service",
    "stop_all_services", "stop_service", "tool_env", "verify_page",
]
