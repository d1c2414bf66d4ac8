"""fastapi/service: a small FastAPI web service with a /health endpoint.

scaffold: render ``app/main.py``, its tests and pyproject.toml into ``src/``; with a model
          (template.json's ``ai``), the model then writes the resources' fields, SQLite
          persistence, the endpoints and their tests through the repair loop
build:    create a venv (system site packages: fastapi, httpx, pytest) and run the tests
          (model-written: in the sandbox)
deploy:   copy the app to ``OUTPUT_DIR/<slug>/`` and start it with uvicorn on a free loopback
          port, detached so it outlives the worker (pid and port: TITAN_HOME/services/<slug>.json).
          Model-written: uvicorn runs in the sandbox on a unix socket in the project's kept
          ``service-data`` folder (with its SQLite file), and Titan's proxy
          (worker.templatekit.proxy) serves the loopback port
verify:   GET /health and /, and round-trip one item through every collection; model-written:
          the request bodies come from the service's own OpenAPI schema, and every item must
          still be there after the service is restarted
publish:  a zip of the deployed app
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

from worker.sandbox import SERVICE_DATA
from worker.templatekit import (
    copy_to_output,
    free_port,
    make_venv,
    publish_archive,
    render_tree,
    replace_dir,
    run_project_tests,
    start_service,
    stop_service,
    tool_env,
)
from worker.templatekit.sandboxed import serve_sandboxed
from worker.templatekit.services import restart_service
from worker.templatekit.testing import model_written
from worker.templates import ArtifactOut, PlanNode, StepContext, StepResult, Template

FILES = Path(__file__).parent / "files"


class FastapiService(Template):
    # Title, description, project types and the spec schema are in template.json.

    def normalize_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {**spec, "description": spec.get("description", "").strip()}

    def plan(self, name: str, spec: dict[str, Any]) -> list[PlanNode]:
        def endpoint(title: str, path: str) -> PlanNode:
            return PlanNode(title, "feature", children=[
                PlanNode("Implement", "milestone", children=[
                    PlanNode(f"Write {path} and its tests", "goal", "scaffold"),
                    PlanNode(f"Pass the {path} tests", "goal", "build"),
                ]),
                PlanNode("Serve", "milestone", children=[
                    PlanNode(f"Serve {path} on loopback", "goal", "deploy"),
                    PlanNode(f"Probe {path}", "goal", "verify"),
                    PlanNode(f"Publish {path}", "goal", "publish"),
                ]),
            ])

        return [endpoint("Health check", "/health"),
                *(endpoint(f"{r} collection", f"/{r}") for r in spec.get("features", []))]

    def _context(self, ctx: StepContext) -> dict[str, Any]:
        spec = ctx.project.spec
        return {
            "name": ctx.project.name, "slug": ctx.project.slug,
            "description": spec.get("description") or f"{ctx.project.name}, built by Titan.",
            "version": spec.get("version", "0.1.0"), "features": list(spec.get("features", [])),
        }

    def ai_context(self, ctx: StepContext) -> dict[str, Any] | None:
        """The model writes the resources (template.json's ``ai``); none: nothing to write."""
        context = self._context(ctx)
        return context if context["features"] else None

    def scaffold(self, ctx: StepContext) -> StepResult:
        context = self._context(ctx)
        staging = ctx.workdir / "src.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        written = render_tree(FILES, staging, context)
        replace_dir(staging, ctx.workdir / "src")
        ctx.log(f"scaffolded a FastAPI app with {len(context['features'])} collections "
                f"({len(written)} files)")
        return StepResult(f"Scaffolded {len(written)} files",
                          [ArtifactOut("file", "main.py", ctx.workdir / "src/app/main.py")])

    def build(self, ctx: StepContext) -> StepResult:
        return run_project_tests(ctx, _sources(ctx))

    def deploy(self, ctx: StepContext) -> StepResult:
        src = _sources(ctx)
        home = ctx.settings.titan_home
        # The running instance serves from output_dir: stop it before its files are replaced.
        stop_service(home, ctx.project.slug)
        staging = ctx.output_dir.with_name(f".{ctx.output_dir.name}.deploy")
        shutil.rmtree(staging, ignore_errors=True)
        ctx.output_dir.parent.mkdir(parents=True, exist_ok=True)
        copy_to_output(src, staging, ctx.output_dir.parent, ignore=shutil.ignore_patterns(
            "__pycache__", ".pytest_cache", "tests"))
        replace_dir(staging, ctx.output_dir)
        if model_written(ctx.workdir):
            return _serve_in_sandbox(ctx)
        python = make_venv(ctx.workdir / "venv", ctx.log)
        port = free_port()
        state = start_service(
            home, ctx.project.slug,
            [str(python), "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=ctx.output_dir, port=port, env=tool_env(), log=ctx.log)
        ctx.log(f"started uvicorn (pid {state['pid']}) serving {state['url']}; "
                f"log {state['log']}")
        return StepResult(f"Serving on {state['url']}",
                          [ArtifactOut("url", "service", uri=state["url"])], url=state["url"])

    def verify(self, ctx: StepContext) -> StepResult:
        if not ctx.url:
            raise RuntimeError("nothing deployed to verify (no URL)")
        if model_written(ctx.workdir):
            return _verify_model_written(ctx)
        base = ctx.url.rstrip("/")
        resources = list(ctx.project.spec.get("features", []))
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            _check_health_and_index(client, base, ctx.project.name)
            for resource in resources:
                created = client.post(f"{base}/{resource}", json={"name": "titan-verify"})
                if created.status_code != 201:
                    raise RuntimeError(f"POST {base}/{resource} answered "
                                       f"{created.status_code}: {created.text[:300]}")
                _expect_item(client, base, resource, created.json(), "")
        checked = f"GET /health -> ok, GET / names the service, {len(resources)} collections"
        ctx.log(f"verified {ctx.url}: {checked}")
        return StepResult(f"Verified: {checked}")

    def publish(self, ctx: StepContext) -> StepResult:
        if not (ctx.output_dir / "app" / "main.py").is_file():
            raise RuntimeError(f"nothing deployed in {ctx.output_dir} to publish")
        archive = publish_archive(_sources(ctx), ctx.output_dir, ctx.project.slug, "service")
        ctx.log(f"published {archive.name}")
        return StepResult(f"Published {archive.name}",
                          [ArtifactOut("archive", archive.name, archive)])


def _serve_in_sandbox(ctx: StepContext) -> StepResult:
    """A model wrote the app: uvicorn runs only in the sandbox, its SQLite file in the project's
    kept ``service-data`` folder (it survives redeploys; deleting the project removes it)."""
    state = serve_sandboxed(
        ctx.settings, ctx.project.slug, ctx.output_dir, ctx.workdir / "service-data",
        "app.main:app", env={"SERVICE_DB": f"{SERVICE_DATA}/service.db"}, log=ctx.log)
    ctx.log(f"started the model-written service in the sandbox (proxy pid {state['pid']}) "
            f"serving {state['url']}; log {state['log']}")
    return StepResult(f"Serving on {state['url']} (sandboxed)",
                      [ArtifactOut("url", "service", uri=state["url"])], url=state["url"])


def _verify_model_written(ctx: StepContext) -> StepResult:
    """/health, /, then one item per collection with a body built from the service's own OpenAPI
    schema; the service is restarted and every item must still be there (SQLite persistence)."""
    assert ctx.url
    base = ctx.url.rstrip("/")
    resources = list(ctx.project.spec.get("features", []))
    created: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        _check_health_and_index(client, base, ctx.project.name)
        schema = client.get(f"{base}/openapi.json")
        if schema.status_code != 200:
            raise RuntimeError(f"GET {base}/openapi.json answered {schema.status_code}")
        openapi = schema.json()
        for resource in resources:
            body = sample_body(openapi, f"/{resource}")
            answer = client.post(f"{base}/{resource}", json=body)
            if answer.status_code != 201 or not isinstance(answer.json(), dict) \
                    or "id" not in answer.json():
                raise RuntimeError(f"POST {base}/{resource} with {body} answered "
                                   f"{answer.status_code}: {answer.text[:300]}")
            created[resource] = answer.json()
            _expect_item(client, base, resource, created[resource], "")
    restart_service(ctx.settings.titan_home, ctx.project.slug, log=ctx.log)
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        for resource, item in created.items():
            _expect_item(client, base, resource, item, " after the service restarted")
    checked = (f"GET /health -> ok, GET / names the service, {len(resources)} collections, "
               "their items kept across a restart")
    ctx.log(f"verified {ctx.url}: {checked}")
    return StepResult(f"Verified: {checked}")


def _check_health_and_index(client: httpx.Client, base: str, name: str) -> None:
    health = client.get(f"{base}/health")
    if health.status_code != 200 or health.json().get("status") != "ok":
        raise RuntimeError(f"GET {base}/health answered {health.status_code}: "
                           f"{health.text[:300]}")
    index = client.get(f"{base}/")
    if index.status_code != 200 or index.json().get("name") != name:
        raise RuntimeError(f"GET {base}/ answered {index.status_code} without the project "
                           f"name: {index.text[:300]}")


def _expect_item(client: httpx.Client, base: str, resource: str, item: dict[str, Any],
                 when: str) -> None:
    fetched = client.get(f"{base}/{resource}/{item['id']}")
    if fetched.status_code != 200 or fetched.json() != item:
        raise RuntimeError(f"GET {base}/{resource}/{item['id']}{when} did not return the item "
                           f"created ({fetched.status_code}): {fetched.text[:300]}")


_SAMPLES: dict[str, Any] = {"string": "titan-verify", "integer": 1, "number": 1.5,
                            "boolean": True, "array": [], "object": {}}
_FORMATS = {"date": "2026-01-31", "date-time": "2026-01-31T12:00:00Z", "email": "ti@example.com",
            "uri": "https://example.com/", "uuid": "00000000-0000-4000-8000-000000000001"}


def sample_body(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    """A request body for ``POST path`` that its JSON schema accepts: every property, each with
    a plain value of its type (enums: the first choice). No schema: ``{"name": ...}``."""
    try:
        schema = openapi["paths"][path]["post"]["requestBody"]["content"][
            "application/json"]["schema"]
    except (KeyError, TypeError):
        return {"name": "titan-verify"}
    value = _sample(openapi, schema, depth=0)
    return value if isinstance(value, dict) else {"name": "titan-verify"}


def _sample(openapi: dict[str, Any], schema: dict[str, Any], depth: int) -> Any:
    if "$ref" in schema:  # "#/components/schemas/Book"
        target: Any = openapi
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema = target
    if depth > 5:
        return None
    for key in ("anyOf", "oneOf", "allOf"):
        choices = [c for c in schema.get(key, []) if c.get("type") != "null"]
        if choices:
            return _sample(openapi, choices[0], depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if kind == "object":
        return {name: _sample(openapi, sub, depth + 1)
                for name, sub in schema.get("properties", {}).items()}
    if kind == "string" and schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    if kind in ("integer", "number") and "minimum" in schema:
        return schema["minimum"]
    return _SAMPLES.get(kind, "titan-verify")


def _sources(ctx: StepContext) -> Path:
    src = ctx.workdir / "src"
    if not (src / "app" / "main.py").is_file():
        raise RuntimeError(f"no sources in {src} (scaffold first)")
    return src


TEMPLATE = FastapiService()
