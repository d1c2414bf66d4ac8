"""The in-window banner (where the system has no tray): the newest alert, how many more, and
Dismiss. Thin: the controller and its model hold the alerts; whoever places the banner shows
it while the model has rows (``attach_alerts``: the bar above the tabs)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from titan_desktop import palette
from titan_desktop.alerts.controller import AlertController

STYLE = f"""
QFrame#alertBanner {{ background: {palette.BANNER}; border: 1px solid {palette.DANGER_BORDER};
                      border-radius: 6px; }}
QLabel#alertText {{ color: {palette.BANNER_TEXT}; font-weight: 600; }}
"""


class AlertBanner(QFrame):
    def __init__(self, controller: AlertController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setObjectName("alertBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(STYLE)
        self.text = QLabel("")
        self.text.setObjectName("alertText")
        self.text.setWordWrap(True)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setObjectName("alertDismiss")
        self.dismiss_button.clicked.connect(controller.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.dismiss_button)
        controller.model.modelReset.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        newest = self.controller.model.newest()
        if newest is None:
            self.text.setText("")
            self.text.setToolTip("")
            return
        more = self.controller.model.rowCount() - 1
        extra = f"  (+{more} more)" if more > 0 else ""
        self.text.setText(f"⚠ {newest.line()}{extra}")
        self.text.setToolTip("\n".join(a.line() for a in self.controller.pending()[:20]))
