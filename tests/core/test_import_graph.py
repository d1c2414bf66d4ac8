"""The job kinds, the template kit, the errors and the slugs form no import circle (issue 16).

It used to be one: handlers <-> pipeline/jobs, ops/jobs, closed by sitebuild -> handlers (for
PermanentError) and services/projects -> sitebuild (for slugify). Now handlers wires the job
kinds in from above, the kinds import ``worker.jobkit``, and the kit imports only
``worker.errors`` and ``worker.slugs``. The graph is grimp's (what import-linter reads), built
from the source: lazy imports inside functions count too.
"""

from __future__ import annotations

import grimp
import pytest

# Each of these must be in no cycle at all (services/projects is not listed: its cycle with
# services/approvals is another matter; it must only not lead back into these).
ACYCLIC = ["worker.handlers", "worker.jobkit", "worker.pipeline.jobs", "worker.ops.jobs",
           "worker.errors", "worker.slugs", "worker.sitebuild", "worker.templatekit"]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("worker")


def _circle_through(graph: grimp.ImportGraph, module: str) -> tuple[str, ...] | None:
    """The shortest import chain that leaves ``module`` and comes back to it, if any."""
    best: tuple[str, ...] | None = None
    for imported in sorted(graph.find_modules_directly_imported_by(module)):
        back = graph.find_shortest_chain(importer=imported, imported=module)
        if back and (best is None or len(back) + 1 < len(best)):
            best = (module, *back)
    return best


def _modules(graph: grimp.ImportGraph) -> list[str]:
    kit = sorted(graph.find_children("worker.templatekit"))
    return [*ACYCLIC, *kit]


def test_kit_has_a_module_per_concern(graph: grimp.ImportGraph) -> None:
    assert {m.rsplit(".", 1)[1] for m in graph.find_children("worker.templatekit")} >= {
        "files", "links", "tools", "render", "services", "testing"}


def test_no_import_circle_through_the_job_and_template_modules(
        graph: grimp.ImportGraph) -> None:
    circles = [" -> ".join(c) for m in _modules(graph) if (c := _circle_through(graph, m))]
    assert circles == [], "import circles:\n" + "\n".join(circles)


def test_project_service_does_not_lead_back_to_the_job_kinds(graph: grimp.ImportGraph) -> None:
    for target in ("worker.handlers", "worker.pipeline.jobs", "worker.ops.jobs"):
        chain = graph.find_shortest_chain(importer="worker.services.projects", imported=target)
        assert chain is None, " -> ".join(chain or ())
