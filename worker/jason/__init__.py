"""Jason's Qt-free core: commands, grammar, parser, brain, recognizer, speech (the desktop keeps
only Qt audio, playback and the panel in ``titan_desktop.jason``)."""
