"""``titan jason ...`` as a script would use it: one JSON line per hear/parse."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from tests.conftest import titan as run_titan
from worker.jason import corpus
from worker.jason.audio import load_wav, resample

ROOT = Path(__file__).resolve().parents[2]


def titan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "titan_desktop.launcher", "jason", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_say_then_hear_a_command(titan_env: dict, tmp_path: Path) -> None:
    wav = tmp_path / "cmd.wav"
    said = titan("say", "cancel project my web app", "--out", str(wav), "--rate", "160")
    assert said.returncode == 0, said.stderr
    heard = titan("hear", str(wav), "--project", "My Web App", "--project", "Moon Garden")
    assert heard.returncode == 0, heard.stderr
    lines = heard.stdout.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {"command": "cancel_project",
                                    "slots": {"project": "My Web App"},
                                    "text": "cancel project my web app"}


def test_hear_knows_the_projects_in_the_database_without_flags(titan_env: dict,
                                                              tmp_path: Path) -> None:
    created = run_titan(titan_env, "project", "create", "Harbor Lights",
                        "--template", "persona/basic")
    assert created.returncode == 0, created.stderr
    wav = tmp_path / "status.wav"
    said = run_titan(titan_env, "jason", "say", "status of harbor lights", "--out", str(wav))
    assert said.returncode == 0, said.stderr
    heard = run_titan(titan_env, "jason", "hear", str(wav))
    assert heard.returncode == 0, heard.stderr
    assert json.loads(heard.stdout) == {"command": "status_project",
                                        "slots": {"project": "Harbor Lights"},
                                        "text": "status of harbor lights"}
    # a flag adds a name to the database's
    wav = tmp_path / "approve.wav"
    assert run_titan(titan_env, "jason", "say", "approve sun tower", "--out",
                     str(wav)).returncode == 0
    heard = run_titan(titan_env, "jason", "hear", str(wav), "--project", "Sun Tower")
    assert json.loads(heard.stdout)["slots"] == {"project": "Sun Tower"}


def test_hear_a_44k_stereo_24bit_file(titan_env: dict, tmp_path: Path) -> None:
    audio = corpus.spoken_audio("show me the sales tab", "en-gb", 175)
    x = resample(audio.astype(np.float64) / 32768.0, 16000, 44100)
    i32 = np.round(np.repeat(x[:, None], 2, axis=1).reshape(-1) * (2 ** 23 - 1)).astype(np.int32)
    wav = tmp_path / "stereo24.wav"
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(3)
        f.setframerate(44100)
        f.writeframes(b"".join(int(v).to_bytes(3, "little", signed=True) for v in i32))
    assert abs(len(load_wav(wav)) - len(audio)) < 5
    heard = json.loads(titan("hear", str(wav)).stdout)
    assert (heard["command"], heard["slots"]) == ("show_tab", {"tab": "sales"})


def test_hear_rejects_a_non_command_with_suggestions(titan_env: dict, tmp_path: Path
                                                      ) -> None:
    wav = tmp_path / "chat.wav"
    assert titan("say", "remind me to water the plants", "--out", str(wav)).returncode == 0
    heard = json.loads(titan("hear", str(wav), "--project", "Moon Garden").stdout)
    assert heard["command"] is None
    assert isinstance(heard["suggestions"], list) and heard["text"]


def test_parse_and_help() -> None:
    parsed = json.loads(titan("parse", "Hey Jason, how are sales this week?").stdout)
    assert parsed == {"command": "sales", "slots": {"period": "this week"},
                      "text": "Hey Jason, how are sales this week?"}
    helped = titan("help")
    assert helped.returncode == 0 and "status of <project>" in helped.stdout


def test_hear_reports_an_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    result = titan("hear", str(bad))
    assert result.returncode == 2 and "cannot read" in result.stderr
