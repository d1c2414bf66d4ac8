"""Jason over a real audio path: a PulseAudio server with a virtual microphone and loudspeaker.

PulseAudio runs with two null sinks: ``mic_feed``, whose monitor is remapped as the default
source ``virtual_mic`` (the microphone Titan opens), and ``speaker`` (the default output, where
Titan's replies play). ``paplay`` plays espeak-ng's audio of a command into ``mic_feed``; the
running app, always listening through ``QAudioSource``, hears it (though its UI thread stalls
for a second while the words are spoken, as on a loaded machine), asks "are you sure?" aloud
(recorded from the speaker's monitor with ``parec``), hears "yes" and cancels the project.

The app runs in a child process: QtMultimedia connects to a sound server once per process, and
the rest of the suite runs with ``TITAN_NO_AUDIO=1`` and no sound server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import wait_until_blocking

pytestmark = [
    pytest.mark.slow,  # a voice end-to-end test: left out by -m "not slow"
    pytest.mark.skipif(
        not (shutil.which("pulseaudio") and shutil.which("paplay") and shutil.which("parec")),
        reason="needs pulseaudio and pulseaudio-utils (.ci/run installs them)",
    ),
]

PULSE_CONFIG = """
load-module module-native-protocol-unix
load-module module-null-sink sink_name=speaker sink_properties=device.description=Speaker
load-module module-null-sink sink_name=mic_feed sink_properties=device.description=MicFeed
load-module module-remap-source master=mic_feed.monitor source_name=virtual_mic \
source_properties=device.description=VirtualMic
set-default-source virtual_mic
set-default-sink speaker
"""

# Runs in the child: the real main window, always listening on the virtual microphone.
APP = r"""
import asyncio, json, logging, sys, time
from pathlib import Path

# What Jason heard and why (accepted, rejected) reaches stderr: the test shows it on a failure.
class WithFields(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{super().format(record)} {getattr(record, 'titan_fields', '')}"


heard_log = logging.StreamHandler(sys.stderr)
heard_log.setFormatter(WithFields("%(name)s %(levelname)s %(message)s"))
logging.getLogger("titan.jason").addHandler(heard_log)
logging.getLogger("titan.jason").setLevel(logging.INFO)

import qasync
from PySide6.QtWidgets import QApplication

app = QApplication([])
loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)

from tests.desktop.conftest import open_window
from tests.helpers import wait_until
from worker.jason import corpus
from worker.jason.audio import save_wav
from worker.config import reload_settings

cache = Path(sys.argv[1])


def wav_of(sentence: str) -> Path:
    path = cache / (sentence.replace(" ", "-") + ".wav")
    save_wav(path, corpus.spoken_audio(sentence, "en-us", 175, cache))
    return path


async def play_into_microphone(sentence: str, ui_stall: float = 0.0) -> None:
    proc = await asyncio.create_subprocess_exec("paplay", "--device=mic_feed",
                                                str(wav_of(sentence)))
    if ui_stall:  # the UI thread busy while the words are spoken (a loaded machine)
        await asyncio.sleep(0.2)
        time.sleep(ui_stall)
    assert await proc.wait() == 0


async def main() -> dict:
    out: dict = {}
    async with open_window(reload_settings(), spawn_worker=False) as window:
        project = await window.ctx.projects.create({"name": "Moon Garden"})
        voice = window.jason.voice
        await voice.refresh_vocabulary()
        panel = window.input_tab.chat_panel
        out["microphone"] = voice.microphone.description() if voice.microphone else None
        out["listen_enabled"] = panel.listen_button.isEnabled()
        said: list[str] = []
        window.jason.said.connect(said.append)
        spoken: list[str] = []
        voice.spoken.connect(lambda text, path: spoken.append(text))
        panel.listen_button.setChecked(True)  # always listening, as a person would switch it on
        out["listening"] = voice.listening
        delivered: list[int] = []
        voice._stream.readyRead.connect(lambda: delivered.append(1))
        await wait_until(lambda: delivered, 30, "the microphone's first audio")
        await play_into_microphone("cancel Moon Garden", ui_stall=1.0)
        await wait_until(lambda: said, 30, "the question (the value: what Jason said)",
                         done=lambda said: any("Are you sure" in s for s in said))
        question = next(s for s in said if "Are you sure" in s)
        out["question"] = question
        await wait_until(lambda: question in spoken, 30, "the question synthesized")
        await wait_until(voice._effect_playing, 30, "the question playing")
        await wait_until(lambda: not voice._effect_playing(), 30, "the question played")
        out["status_before_yes"] = (await window.ctx.projects.get(project.id)).status

        await play_into_microphone("yes")
        await wait_until(lambda: len(said) >= 2, 30, "the answer to yes")
        out["answer"] = said[1]
        out["status_after_yes"] = (await window.ctx.projects.get(project.id)).status
        out["said"] = list(said)  # everything Jason said, for a failure's message
        await wait_until(lambda: said[1] in spoken, 30, "the answer synthesized")
        await wait_until(voice._effect_playing, 30, "the answer playing")
        await wait_until(lambda: not voice._effect_playing(), 30, "the answer played")
    return out


with loop:  # closing the loop stops qasync's executor threads, as the app's main() does
    result = loop.run_until_complete(main())
print("RESULT " + json.dumps(result), flush=True)
"""


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private PulseAudio server; yields the environment that points clients at it."""
    runtime = tmp_path / "pulse-runtime"
    runtime.mkdir()
    config = tmp_path / "titan.pa"
    config.write_text(PULSE_CONFIG)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime),
           "PULSE_RUNTIME_PATH": str(runtime / "pulse")}
    server = subprocess.Popen(
        ["pulseaudio", "-n", "-F", str(config), "--daemonize=no", "--exit-idle-time=-1",
         "--disallow-exit", f"--log-target=file:{tmp_path / 'pulse.log'}"], env=env)
    try:
        wait_until_blocking(
            lambda: subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0,
            20, "PulseAudio to start", interval=0.1,
            give_up=lambda: None if server.poll() is None else (tmp_path / "pulse.log").read_text())
        yield env
    finally:
        server.terminate()
        server.wait(10)


def loud_seconds(raw: bytes, threshold_dbfs: float = -40.0) -> float:
    """Seconds of 10 ms frames louder than ``threshold_dbfs`` in 16 kHz s16le mono audio."""
    import numpy as np

    from worker.jason.audio import frames, rms_dbfs

    audio = np.frombuffer(raw[: len(raw) // 2 * 2], np.int16)
    return sum(rms_dbfs(frame) > threshold_dbfs for frame in frames(audio, 0.01)) / 100


def test_spoken_cancel_is_heard_confirmed_aloud_and_carried_out(
        pulse: dict[str, str], titan_env: dict, tmp_path: Path) -> None:
    env = {**titan_env, **{k: pulse[k] for k in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH")},
           "QT_QPA_PLATFORM": "offscreen"}
    env.pop("TITAN_NO_AUDIO", None)  # this test has a sound server: use it
    recording = tmp_path / "speaker.raw"
    with recording.open("wb") as out:
        recorder = subprocess.Popen(
            ["parec", "--device=speaker.monitor", "--format=s16le", "--rate=16000",
             "--channels=1", "--raw"], env=env, stdout=out)
        try:
            app = subprocess.run([sys.executable, "-c", APP, str(tmp_path)], env=env, cwd=ROOT,
                                 capture_output=True, text=True, timeout=240)
        finally:
            recorder.terminate()
            recorder.wait(10)
    lines = [line for line in app.stdout.splitlines() if line.startswith("RESULT ")]
    assert app.returncode == 0 and lines, app.stdout[-3000:] + app.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))

    assert result["microphone"] == "VirtualMic" and result["listen_enabled"], app.stderr[-3000:]
    assert result["listening"]
    assert "Moon Garden" in result["question"] and "Say yes or no" in result["question"]
    assert result["status_before_yes"] != "cancelled"  # nothing happens before the "yes"
    assert result["status_after_yes"] == "cancelled", result
    assert "Moon Garden" in result["answer"]
    # The question and the answer were played on the loudspeaker: seconds of speech, not clicks.
    assert loud_seconds(recording.read_bytes()) > 1.5
