"""Guards the PySide6 pin: 6.12.0 took a reference from True on every signal emit and aborted
the interpreter ("bool_dealloc") after enough of them, i.e. an all-day desktop session."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Probe(QObject):
    ping = Signal(object)


def test_signal_emits_do_not_leak_references(qapp) -> None:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(10_000):
        probe.ping.emit(1)
    # with the bug this is -10,000; a few references may come and go elsewhere meanwhile
    assert abs(sys.getrefcount(True) - before) < 100
