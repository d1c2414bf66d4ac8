"""Jason's voice in the running app: spoken commands (real espeak-ng audio with faint noise, fed
through ``VoiceController.feed_audio`` exactly as microphone chunks travel) are recognized by
the real pocketsphinx recognizer, acted on, and answered aloud (real synthesized WAVs).

This machine has no microphone or loudspeaker: the microphone controls must be disabled with a
tooltip saying so, and replies are still synthesized (playback is skipped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.desktop.conftest import open_window, run
from tests.helpers import wait_until
from titan_desktop.jason.voice_qt import NO_MICROPHONE
from worker.config import reload_settings
from worker.jason import corpus
from worker.jason.audio import RATE, add_noise, frames, load_wav, rms_dbfs

pytestmark = pytest.mark.slow  # a voice end-to-end test: left out by -m "not slow"


@pytest.fixture(scope="module")
def voice_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("voice-audio")


def speak_into(window: Any, sentence: str, cache: Path) -> None:
    """Say ``sentence`` to the app as a microphone would: 20 ms chunks, then a second of room
    tone so the endpointer hears the end of the utterance."""
    speech = corpus.spoken_audio(sentence, "en-us", 175, cache)
    tail = add_noise(np.zeros(RATE, np.int16), -60.0, seed=7)
    for chunk in frames(np.concatenate([speech, tail]), 0.02):
        window.jason.voice.feed_audio(chunk)


def transcript(window: Any) -> list[str]:
    def walk(node: Any) -> list[str]:
        return [text for child in node.children for text in (child.values[0], *walk(child))]
    return walk(window.input_tab.chat.model.root)


def test_spoken_show_logs_switches_tab_and_the_reply_is_spoken(titan_env: dict, qloop,
                                                               voice_cache: Path) -> None:
    async def body() -> None:
        async with open_window(reload_settings(), spawn_worker=False) as window:
            panel = window.input_tab.chat_panel
            assert not panel.talk_button.isEnabled()  # no microphone on this machine
            assert panel.talk_button.toolTip() == NO_MICROPHONE
            assert not panel.listen_button.isEnabled()
            assert panel.voice_replies.isChecked()  # espeak-ng is installed
            said: list[str] = []
            window.jason.said.connect(said.append)
            spoken: list[tuple[str, Path]] = []
            window.jason.voice.spoken.connect(lambda text, path: spoken.append((text, path)))

            speak_into(window, "show me the logs", voice_cache)
            await wait_until(lambda: window.tabs.currentWidget() is window.logs_tab, 20,
                             "the Logs tab")
            assert any(line.endswith("You: show me the logs") for line in transcript(window))
            await wait_until(lambda: spoken, 20, "the spoken reply")
            text, wav = spoken[0]
            assert text == said[0]  # Jason's reply is what was spoken
            assert wav == window.jason.voice.last_spoken_wav and wav.exists()
            audio = load_wav(wav)
            assert len(audio) > RATE // 4  # a spoken sentence, not a click
            assert rms_dbfs(audio) > -35.0  # well above silence (room tone here is -60)
        # Closing the app stops the voice and leaves no temporary WAVs behind.
        await wait_until(lambda: not wav.parent.exists(), 10, "the reply WAVs removed")

    run(qloop, body())


def test_cancel_is_confirmed_aloud_before_it_happens(titan_env: dict, qloop,
                                                     voice_cache: Path) -> None:
    async def body() -> None:
        async with open_window(reload_settings(), spawn_worker=False) as window:
            project = await window.ctx.projects.create({"name": "Moon Garden"})
            voice = window.jason.voice
            await voice.refresh_vocabulary()  # as the projects-table event would
            said: list[str] = []
            window.jason.said.connect(said.append)
            spoken: list[str] = []
            voice.spoken.connect(lambda text, path: spoken.append(text))

            speak_into(window, "cancel Moon Garden", voice_cache)
            await wait_until(lambda: any("Are you sure" in s for s in said), 20, "the question")
            question = next(s for s in said if "Are you sure" in s)
            assert "Moon Garden" in question and "Say yes or no" in question
            await wait_until(lambda: question in spoken, 20, "the question spoken aloud")
            assert (await window.ctx.projects.get(project.id)).status != "cancelled"

            speak_into(window, "yes", voice_cache)
            await wait_until(lambda: len(said) >= 2, 20, "the answer to yes")
            assert (await window.ctx.projects.get(project.id)).status == "cancelled"

    run(qloop, body())


def test_spoken_non_command_is_not_acted_on(titan_env: dict, qloop, voice_cache: Path) -> None:
    async def body() -> None:
        async with open_window(reload_settings(), spawn_worker=False) as window:
            window.tabs.setCurrentWidget(window.progress_tab)
            heard: list[Any] = []
            window.jason.voice.heard.connect(heard.append)

            speak_into(window, "what time is it in Paris", voice_cache)
            await wait_until(lambda: any("didn't catch" in line for line in transcript(window)),
                             20, "Jason saying he didn't catch it")
            assert [h.command for h in heard] == [None]
            assert not any("You:" in line for line in transcript(window))  # nothing sent on
            assert window.tabs.currentWidget() is window.progress_tab
            assert await window.ctx.projects.list() == []

    run(qloop, body())
