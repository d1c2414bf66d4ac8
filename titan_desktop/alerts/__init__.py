"""Alerts in the desktop: a tray notice, or an in-window banner where there is no tray."""
