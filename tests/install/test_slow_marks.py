"""``-m "not slow"`` leaves out what the README calls slow: the bundle build, the fault suite
(tests/reliability/) and the voice end-to-end tests."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SLOW = ("tests/packaging/test_bundle.py", "tests/reliability/",
        "tests/desktop_jason/test_virtual_microphone.py",
        "tests/desktop_jason/test_voice_in_window.py")


def _collected(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                           "no:cacheprovider", *args, *SLOW], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode in (0, 5), done.stdout[-3000:] + done.stderr[-3000:]  # 5: none left
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_not_slow_leaves_out_the_bundle_fault_suite_and_voice_end_to_end() -> None:
    for path in SLOW:  # each still holds tests, so an empty collection means they are marked
        files = [ROOT / path] if path.endswith(".py") else sorted((ROOT / path).glob("test_*.py"))
        assert any("\ndef test_" in f.read_text() or "\nasync def test_" in f.read_text()
                   for f in files), path
    assert _collected("-m", "not slow") == []
