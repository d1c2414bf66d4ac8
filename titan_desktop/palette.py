"""Every colour the desktop paints with, by what it means.

Python code names colours from here and never writes a hex literal (tests/desktop/
test_palette.py enforces both). ``resources/titan.qss`` keeps plain CSS colours so it stays
readable as a stylesheet, but may only use colours named here: change a value here and change
it there too (the same test fails until the two agree).
"""

from __future__ import annotations

# States: what succeeded, what runs, what waits for someone, what failed, what is idle.
SUCCESS = "#27ae60"  # done, published, succeeded
ACCENT = "#2f80ed"  # running, active steps, primary buttons, the revenue line, Jason's replies
WARNING = "#d9822b"  # waiting for a person, paused, warnings
DANGER = "#c0392b"  # failed, rejected, errors, refunds
MUTED = "#8a8f98"  # queued, cancelled, debug lines, a step's number when pending
PENDING = "#c9ced6"  # a step not reached yet; also input and button borders

# Text.
TEXT = "#444444"  # a status nobody named; tab labels
TEXT_DARK = "#333333"  # a step's number on a coloured dot; table headers
TEXT_STRONG = "#1f2a44"  # titles and figures
TEXT_HINT = "#6b7280"  # hints and captions
TEXT_SELECTED = "#111111"
TEXT_DISABLED = "#a0a4ab"
TEXT_FEEDBACK = "#2f6b3f"  # "done" lines under a form
TEXT_OK = "#1e7a45"  # status bar: all is well
TEXT_WARN = "#a5610f"  # status bar: degraded; a sale still pending

# Surfaces and lines.
WHITE = "#ffffff"
WINDOW = "#f6f7f9"
ROW_ALTERNATE = "#f8f9fb"
HEADER = "#eef0f3"  # table headers, the status bar
DISABLED = "#f3f4f6"
SELECTION = "#d6e6fb"
HOVER = "#eef4fd"
BORDER = "#dde1e6"
DIVIDER = "#d3d7dd"
ACCENT_HOVER = "#2566c0"
ACCENT_DISABLED = "#a9c7f2"
DANGER_BORDER = "#e3a49c"

# The banner over the sales figures (no shop connected, a sync failed).
BANNER = "#fff8e6"
BANNER_BORDER = "#f0d9a8"
BANNER_TEXT = "#5c4400"

# Chart series by job kind (History view): one colour per kind, in this order, then repeated.
SERIES_1 = "#2d9cdb"
SERIES_2 = "#9b51e0"
SERIES_3 = "#f2994a"
SERIES_4 = "#219653"
SERIES_5 = "#eb5757"
SERIES_6 = "#56ccf2"
SERIES_7 = "#bb6bd9"
SERIES_8 = "#828282"
SERIES = (SERIES_1, SERIES_2, SERIES_3, SERIES_4, SERIES_5, SERIES_6, SERIES_7, SERIES_8)
