"""Deleting a project also removes what a model wrote for it (kept for scaffold replays in
``OUTPUT_DIR/.ai-builds/<slug>.json``), unless the files are kept; another project's stays."""

from __future__ import annotations

from pathlib import Path

from worker.config import Settings
from worker.services.cleanup import remove_project_files


def test_the_models_record_goes_with_the_project_unless_files_are_kept(tmp_path: Path) -> None:
    settings = Settings(TITAN_HOME=str(tmp_path), OUTPUT_DIR=str(tmp_path / "projects"))
    records = settings.projects_dir / ".ai-builds"
    records.mkdir(parents=True)
    for slug in ("bakery", "garden"):
        (settings.work_dir / slug).mkdir(parents=True)
        (settings.projects_dir / slug).mkdir(parents=True)
        (records / f"{slug}.json").write_text("{}")

    _, removed, _ = remove_project_files(settings, "garden", keep_files=True)
    assert removed == [] and (records / "garden.json").is_file()

    _, removed, _ = remove_project_files(settings, "bakery")
    assert records / "bakery.json" in removed
    assert not (records / "bakery.json").exists()
    assert (records / "garden.json").is_file()
