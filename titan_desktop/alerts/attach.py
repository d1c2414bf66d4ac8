"""Wires alerts into the main window: tray notices when there is a tray, else the banner (a
fixed bar above the tabs)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QSystemTrayIcon, QToolBar

from titan_desktop.alerts.banner import AlertBanner
from titan_desktop.alerts.controller import AlertController
from titan_desktop.context import AppContext
from worker.services.alerts import AlertInfo

TRAY_MS = 10_000


def attach_alerts(window: QMainWindow, ctx: AppContext,
                  tray: QSystemTrayIcon | None) -> AlertController:
    controller = AlertController(ctx, window)
    if tray is not None:
        controller.raised.connect(lambda alerts: _tray_notice(tray, alerts))
        controller.raised.connect(controller.dismiss)  # the tray showed them
    else:
        bar = QToolBar("Alerts", window)
        bar.setObjectName("alertsBar")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.toggleViewAction().setVisible(False)
        banner = AlertBanner(controller, bar)
        bar.addWidget(banner)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        bar.setVisible(False)
        controller.model.modelReset.connect(
            lambda: bar.setVisible(controller.model.rowCount() > 0))
        window.alert_banner = banner  # type: ignore[attr-defined]  # tests and screenshots
    controller.start()
    return controller


def _tray_notice(tray: QSystemTrayIcon, alerts: list[AlertInfo]) -> None:
    if len(alerts) == 1:
        title, text = f"Titan alert: {alerts[0].title}", alerts[0].message
    else:
        title = f"Titan: {len(alerts)} alerts"
        text = "\n".join(a.line() for a in alerts[-3:])
    tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, TRAY_MS)
