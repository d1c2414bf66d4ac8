"""The alerts raised since the window opened that the person has not dismissed."""

from __future__ import annotations

from typing import Any

from titan_desktop import fmt
from titan_desktop.models import Column, RowTableModel
from worker.services.alerts import AlertInfo


class AlertsModel(RowTableModel):
    """Newest first; the banner shows the first row and counts the rest."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__([
            Column("Alert", lambda a: a.title),
            Column("What happened", lambda a: fmt.one_line(a.message, 200),
                   tooltip=lambda a: a.message),
            Column("When", lambda a: fmt.when(a.created_at)),
        ], parent=parent)

    def add(self, alerts: list[AlertInfo]) -> None:
        known = {a.id for a in self.rows}
        fresh = [a for a in alerts if a.id not in known]
        if fresh:
            self.set_rows(sorted(fresh, key=lambda a: -a.id) + self.rows)

    def newest(self) -> AlertInfo | None:
        return self.rows[0] if self.rows else None

    def clear(self) -> None:
        self.set_rows([])
