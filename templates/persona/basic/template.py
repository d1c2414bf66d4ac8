"""persona/basic: a small static website about a project and the persona behind it.

scaffold: write the Jinja2 page sources and the site data (spec) into ``src/``
build:    render them into ``dist/`` and check every internal link and asset exists
deploy:   put ``dist/`` on the project's deploy target (worker/deploy): by default copy it to
          ``OUTPUT_DIR/<slug>/`` and serve it on a loopback port; or a web root, GitHub Pages,
          a Render service
verify:   GET the deployed page: status 200 and the project name in it
publish:  a zip of the built site
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from worker.deploy import TARGETS, deploy_site, verify_site
from worker.errors import InvalidInput
from worker.templatekit import check_links, publish_archive, replace_dir, slugify
from worker.templates import ArtifactOut, PlanNode, StepContext, StepResult, Template

SITE_SOURCES = Path(__file__).parent / "site"
COPY_FILE = "copy.json"  # written by the model when one is at hand (template.json's "ai")


class PersonaBasic(Template):
    # Title, description, project types and the spec schema are in template.json.
    deploy_targets = tuple(TARGETS)  # a static site: local, folder, github-pages, render

    def normalize_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Feature pages need distinct, non-empty slugs; the schema cannot say that."""
        features = [f.strip() for f in spec.get("features", [])]
        seen: set[str] = set()
        for i, feature in enumerate(features):
            if not slugify(feature):
                raise InvalidInput(f"spec.features[{i}]", "needs at least one letter or digit")
            if slugify(feature) in seen:
                raise InvalidInput(f"spec.features[{i}]", f"duplicate feature {feature!r}")
            seen.add(slugify(feature))
        return {**spec, "description": spec.get("description", "").strip(),
                "features": features, "persona": spec.get("persona") or {}}

    def plan(self, name: str, spec: dict[str, Any]) -> list[PlanNode]:
        features = ["Home", *spec.get("features", [])]
        return [
            PlanNode(feature, "feature", children=[
                PlanNode("Build", "milestone", children=[
                    PlanNode(f"Outline the {feature} page", "goal", "scaffold"),
                    PlanNode(f"Render and link-check the {feature} page", "goal", "build"),
                ]),
                PlanNode("Launch", "milestone", children=[
                    PlanNode(f"Deploy the {feature} page", "goal", "deploy"),
                    PlanNode(f"Verify the {feature} page answers", "goal", "verify"),
                    PlanNode(f"Publish the {feature} page", "goal", "publish"),
                ]),
            ])
            for feature in features
        ]

    def ai_context(self, ctx: StepContext) -> dict[str, Any] | None:
        spec = ctx.project.spec
        return {"name": ctx.project.name, "description": spec.get("description", ""),
                "features": list(spec.get("features", [])),
                "persona": spec.get("persona") or {}}

    def scaffold(self, ctx: StepContext) -> StepResult:
        src = ctx.workdir / "src"
        staging = ctx.workdir / "src.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(SITE_SOURCES, staging)
        spec = ctx.project.spec
        site = {
            "name": ctx.project.name,
            "slug": ctx.project.slug,
            "type": ctx.project.type,
            "description": spec.get("description") or f"{ctx.project.name}, built by Titan.",
            "features": [{"name": f, "slug": slugify(f)} for f in spec.get("features", [])],
            "persona": {k: v for k, v in (spec.get("persona") or {}).items() if v},
            "initials": "".join(w[0] for w in re.findall(r"\w+", ctx.project.name)[:2]).upper(),
        }
        (staging / "site.json").write_text(json.dumps(site, indent=2), encoding="utf-8")
        replace_dir(staging, src)
        pages = 2 + len(site["features"]) + (1 if site["persona"] else 0)
        return StepResult(f"Scaffolded {pages} pages for {ctx.project.name}",
                          [ArtifactOut("file", "site.json", src / "site.json")])

    def build(self, ctx: StepContext) -> StepResult:
        from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

        src = ctx.workdir / "src"
        site = json.loads((src / "site.json").read_text(encoding="utf-8"))
        if (src / COPY_FILE).is_file():  # the model's copy (template.json's "ai")
            _apply_copy(site, json.loads((src / COPY_FILE).read_text(encoding="utf-8")))
        env = Environment(loader=FileSystemLoader(src), autoescape=select_autoescape(["html"]),
                          undefined=ChainableUndefined)
        staging = ctx.workdir / "dist.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "features").mkdir(parents=True)
        (staging / "assets").mkdir()
        shutil.copy2(src / "style.css", staging / "assets" / "style.css")
        (staging / "assets" / "logo.svg").write_text(
            env.get_template("logo.svg.j2").render(site=site), encoding="utf-8")

        def render(template: str, out: str, root: str, **extra: Any) -> None:
            html = env.get_template(template).render(site=site, root=root, **extra)
            (staging / out).write_text(html, encoding="utf-8")

        render("index.html", "index.html", "")
        render("about.html", "about.html", "")
        for feature in site["features"]:
            render("feature.html", f"features/{feature['slug']}.html", "../", feature=feature)
        problems = check_links(staging)
        if problems:
            raise RuntimeError("broken links in the built site: " + "; ".join(problems[:10]))
        dist = ctx.workdir / "dist"
        replace_dir(staging, dist)
        files = sorted(p for p in dist.rglob("*") if p.is_file())
        return StepResult(f"Rendered {len(files)} files; every internal link and asset resolves",
                          [ArtifactOut("site", "dist", dist)])

    def deploy(self, ctx: StepContext) -> StepResult:
        url = deploy_site(ctx, ctx.workdir / "dist")  # the project's deploy target
        return StepResult(f"Deployed to {url}", [ArtifactOut("url", "site", uri=url)], url=url)

    def verify(self, ctx: StepContext) -> StepResult:
        checked = verify_site(ctx, ctx.project.name, ["assets/style.css", "about.html"])
        return StepResult(f"Verified: {checked}")

    def publish(self, ctx: StepContext) -> StepResult:
        archive = publish_archive(ctx.workdir / "dist", ctx.output_dir, ctx.project.slug)
        return StepResult(f"Published {archive.name}",
                          [ArtifactOut("archive", archive.name, archive)])


def _apply_copy(site: dict[str, Any], copy: dict[str, Any]) -> None:
    """Merge the model's copy into the site data; the pages render it as text (autoescaped).
    A person's own persona bio wins over the model's."""
    site["tagline"] = copy.get("tagline", "")
    site["about"] = copy.get("about", "")
    texts = {slugify(f.get("name", "")): f.get("text", "") for f in copy.get("features", [])}
    for feature in site["features"]:
        feature["text"] = texts.get(feature["slug"], "")
    if copy.get("bio") and not site["persona"].get("bio"):
        site["persona"]["bio"] = copy["bio"]


TEMPLATE = PersonaBasic()
