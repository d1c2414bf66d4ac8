"""A model's edits on a real workspace on disk: what is written, what is refused and why.

No model here: the edits are what a model's validated answer holds (``EditAnswer``). The
confinement cases plant real symlinks and hard links pointing outside the workspace and check
the files outside are untouched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from worker.ai.edits import EditAnswer, apply_edits


def answer(*edits: dict[str, object]) -> EditAnswer:
    """The edits as a model's JSON answer, validated as ask_structured validates it."""
    return EditAnswer.model_validate_json(json.dumps({"edits": list(edits)}))


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links as ``-> target``), to prove nothing else changed."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[rel] = path.read_text()
    return found


@pytest.fixture
def space(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "README.md").write_text("# Calc\n")
    return root


def test_whole_files_blocks_deletes_and_renames_are_written_with_their_diff(space: Path
                                                                              ) -> None:
    done = apply_edits(space, answer(
        {"path": "pkg/calc.py", "search": "return a - b", "replace": "return a + b"},
        {"path": "tests/test_calc.py", "content": "from pkg.calc import add\n"},
        {"path": "README.md", "rename_to": "docs/README.md"},
        {"path": "docs/README.md", "search": "# Calc", "replace": "# Calculator"},
        {"path": "pkg/old.py", "content": "x = 1\n"},
        {"path": "pkg/old.py", "delete": True},
    ).edits)
    assert done.refusals == []
    assert done.accepted == 6
    assert (space / "pkg" / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (space / "tests" / "test_calc.py").read_text() == "from pkg.calc import add\n"
    assert not (space / "README.md").exists()
    assert (space / "docs" / "README.md").read_text() == "# Calculator\n"
    assert not (space / "pkg" / "old.py").exists()
    diff = done.diff()
    assert "--- a/pkg/calc.py\n+++ b/pkg/calc.py" in diff
    assert "-    return a - b\n+    return a + b\n" in diff
    assert "--- /dev/null\n+++ b/tests/test_calc.py" in diff
    assert "--- a/README.md\n+++ /dev/null" in diff
    assert "+# Calculator" in diff
    assert "old.py" not in diff  # created and deleted in one answer: no change
    assert sorted(done.changed) == ["README.md", "docs/README.md", "pkg/calc.py",
                                    "tests/test_calc.py"]


def test_a_search_block_must_match_exactly_once(space: Path) -> None:
    (space / "twice.py").write_text("x = 1\nx = 1\n")
    done = apply_edits(space, answer(
        {"path": "pkg/calc.py", "search": "return a-b", "replace": "return a + b"},
        {"path": "twice.py", "search": "x = 1", "replace": "x = 2"},
        {"path": "missing.py", "search": "x", "replace": "y"},
        {"path": "twice.py", "search": "x = 1\nx = 1", "replace": "x = 2"},
    ).edits)
    assert [(r.index, r.path) for r in done.refusals] == [
        (0, "pkg/calc.py"), (1, "twice.py"), (2, "missing.py")]
    assert "does not occur" in done.refusals[0].reason
    assert "occurs 2 times" in done.refusals[1].reason
    assert "no such file" in done.refusals[2].reason
    assert (space / "pkg" / "calc.py").read_text().endswith("return a - b\n")  # untouched
    assert (space / "twice.py").read_text() == "x = 2\n"  # the unique block went in
    assert not (space / "missing.py").exists()


def test_paths_outside_protected_or_through_symlinks_are_refused_and_nothing_escapes(
        tmp_path: Path, space: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text("outside notes\n")
    (outside / "shared.txt").write_text("shared\n")
    (space / "out").symlink_to(outside)  # a folder link planted in the workspace
    (space / "notes.txt").symlink_to(outside / "notes.txt")  # a file link
    os.link(outside / "shared.txt", space / "shared.txt")  # a hard link to a file outside
    before_outside = tree(outside)
    before_parent = sorted(p.name for p in tmp_path.iterdir())
    done = apply_edits(space, answer(
        {"path": "../x", "content": "escaped"},
        {"path": str(tmp_path / "abs.txt"), "content": "escaped"},
        {"path": ".git/config", "content": "[core]\n"},
        {"path": ".env", "content": "KEY=1\n"},
        {"path": "deploy/secrets/token", "content": "t"},
        {"path": "out/pwned.py", "content": "escaped"},
        {"path": "notes.txt", "content": "escaped"},
        {"path": "notes.txt", "delete": True},
        {"path": "pkg/calc.py", "rename_to": "../calc.py"},
        {"path": "pkg/calc.py", "rename_to": "out/calc.py"},
        {"path": "shared.txt", "content": "replaced inside only\n"},
        {"path": "pkg/calc.py", "search": "a - b", "replace": "a + b"},
    ).edits)
    reasons = {r.index: r.reason for r in done.refusals}
    assert sorted(reasons) == list(range(10))
    assert "rule traversal" in reasons[0]
    assert "rule absolute" in reasons[1]
    assert "rule git-internal" in reasons[2]
    assert "rule protected" in reasons[3] and "'.env'" in reasons[3]
    assert "rule protected" in reasons[4] and "secrets" in reasons[4]
    assert "rule symlink" in reasons[5] and "leaves the workspace" in reasons[5]
    assert "rule symlink" in reasons[6] and "rule symlink" in reasons[7]
    assert "rename_to '../calc.py'" in reasons[8] and "traversal" in reasons[8]
    assert "rename_to 'out/calc.py'" in reasons[9] and "symlink" in reasons[9]
    # Nothing outside changed; the accepted edits went in; the links are still links.
    assert tree(outside) == before_outside
    assert sorted(p.name for p in tmp_path.iterdir()) == before_parent
    assert not (space / ".git").exists() and not (space / ".env").exists()
    assert not (space / "deploy").exists()
    assert (space / "notes.txt").is_symlink()
    assert (space / "shared.txt").read_text() == "replaced inside only\n"
    assert (outside / "shared.txt").read_text() == "shared\n"  # the hard link was replaced
    assert (space / "pkg" / "calc.py").read_text().endswith("return a + b\n")
    assert done.changed == ["shared.txt", "pkg/calc.py"]


def test_a_workspace_reached_through_a_symlink_is_used_by_its_real_path(tmp_path: Path,
                                                                        space: Path) -> None:
    link = tmp_path / "link-to-workspace"
    link.symlink_to(space)
    done = apply_edits(link, answer({"path": "new/file.txt", "content": "hi\n"}).edits)
    assert done.refusals == []
    assert (space / "new" / "file.txt").read_text() == "hi\n"


def test_an_answer_must_have_one_of_the_four_shapes() -> None:
    with pytest.raises(ValidationError):
        answer({"path": "a.py", "content": "x", "search": "y"})
    with pytest.raises(ValidationError):
        answer({"path": "a.py", "search": "", "replace": "y"})  # an empty search matches all
    with pytest.raises(ValidationError):
        answer({"path": "a.py", "delete": False})
    with pytest.raises(ValidationError, match="at most 1024 characters"):
        answer({"path": "a" * 1025, "content": "x"})
    schema = EditAnswer.model_json_schema()
    assert set(schema["$defs"]) == {"WriteFile", "ReplaceBlock", "DeleteFile", "RenameFile"}
    # llama.cpp makes a grammar rule per allowed character of a maxLength: with a file's
    # 200,000 the local model's server could not parse the grammar and dropped the request.
    assert "maxLength" not in json.dumps(schema) and "maxItems" not in json.dumps(schema)
