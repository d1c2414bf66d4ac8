"""fastapi/service: a small FastAPI web service with a /health endpoint.

scaffold: render ``app/main.py``, its tests and pyproject.toml into ``src/``
build:    create a venv (system site packages: fastapi, httpx, pytest) and run the tests
deploy:   copy the app to ``OUTPUT_DIR/<slug>/`` and start it with uvicorn on a free loopback
          port, detached so it outlives the worker (pid and port: TITAN_HOME/services/<slug>.json)
verify:   GET /health and /, and round-trip one item through every collection
publish:  a zip of the deployed app
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

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

    def scaffold(self, ctx: StepContext) -> StepResult:
        spec = ctx.project.spec
        context = {
            "name": ctx.project.name, "slug": ctx.project.slug,
            "description": spec.get("description") or f"{ctx.project.name}, built by Titan.",
            "version": spec.get("version", "0.1.0"), "features": list(spec.get("features", [])),
        }
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
        python = make_venv(ctx.workdir / "venv", ctx.log)
        home = ctx.settings.titan_home
        # The running instance serves from output_dir: stop it before its files are replaced.
        stop_service(home, ctx.project.slug)
        staging = ctx.output_dir.with_name(f".{ctx.output_dir.name}.deploy")
        shutil.rmtree(staging, ignore_errors=True)
        ctx.output_dir.parent.mkdir(parents=True, exist_ok=True)
        copy_to_output(src, staging, ctx.output_dir.parent, ignore=shutil.ignore_patterns(
            "__pycache__", ".pytest_cache", "tests"))
        replace_dir(staging, ctx.output_dir)
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
        base = ctx.url.rstrip("/")
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            health = client.get(f"{base}/health")
            if health.status_code != 200 or health.json().get("status") != "ok":
                raise RuntimeError(f"GET {base}/health answered {health.status_code}: "
                                   f"{health.text[:300]}")
            index = client.get(f"{base}/")
            if index.status_code != 200 or index.json().get("name") != ctx.project.name:
                raise RuntimeError(f"GET {base}/ answered {index.status_code} without the "
                                   f"project name: {index.text[:300]}")
            resources = list(ctx.project.spec.get("features", []))
            for resource in resources:
                created = client.post(f"{base}/{resource}", json={"name": "titan-verify"})
                if created.status_code != 201:
                    raise RuntimeError(f"POST {base}/{resource} answered "
                                       f"{created.status_code}: {created.text[:300]}")
                fetched = client.get(f"{base}/{resource}/{created.json()['id']}")
                if fetched.status_code != 200 or fetched.json() != created.json():
                    raise RuntimeError(f"GET {base}/{resource}/{created.json()['id']} did not "
                                       f"return the item just created: {fetched.text[:300]}")
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


def _sources(ctx: StepContext) -> Path:
    src = ctx.workdir / "src"
    if not (src / "app" / "main.py").is_file():
        raise RuntimeError(f"no sources in {src} (scaffold first)")
    return src


TEMPLATE = FastapiService()
