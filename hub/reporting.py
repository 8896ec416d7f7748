"""Glue between a run and the report renderers: builds `ReportData` from a run, the config and the state."""

from __future__ import annotations

from datetime import datetime

from hub.config import Config
from hub.report.data import ReportData, TrendPoint
from hub.state import State


def trend_points(state: State, limit: int = 30) -> list[TrendPoint]:
    """Compliance score and alarms of past runs (oldest first), from the results kept in the state store."""
    points = []
    for t in state.trend(limit=limit):
        c = t["counts"]
        ok, alarm = c.get("ok", 0), c.get("alarm", 0)
        points.append(TrendPoint(at=datetime.fromisoformat(t["at"]), run_id=t["run_id"],
                                 score=(ok / (ok + alarm)) if ok + alarm else None, alarms=alarm))
    return points


def build_report_data(cfg: Config, state: State, outcome) -> ReportData:
    from hub.rules import api

    run = {
        "id": outcome.run_id, "name": cfg.hub.name,
        "started": outcome.started.isoformat(),
        "finished": outcome.finished.isoformat() if outcome.finished else None,
        "systems": list(outcome.portfolio.systems),
        "requests": dict(outcome.requests),
        "writes": outcome.applied.done if outcome.applied else 0,
        "timezone": cfg.hub.timezone,
    }
    return ReportData.build(
        run=run, results=outcome.results, portfolio=outcome.portfolio, executives=cfg.report.executives,
        trend=trend_points(state), waivers=api.waiver_rows(cfg.standards, base_dir=cfg.base_dir,
                                                           today=outcome.started.astimezone(cfg.tz).date()),
    )
