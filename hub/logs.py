"""Logging set-up: to stderr, human-readable or JSON lines, secrets masked, run id and job on every line."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import datetime, timezone

from hub.secrets import mask

run_context: contextvars.ContextVar[dict] = contextvars.ContextVar("pmo_hub_run", default={})


class _MaskingFormatter(logging.Formatter):
    def __init__(self, json_lines: bool):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s", "%H:%M:%S")
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        ctx = run_context.get()
        if self.json_lines:
            out = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                   "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
                   "run_id": ctx.get("run_id"), "job": ctx.get("job")}
            if record.exc_info:
                out["exc"] = self.formatException(record.exc_info)
            return mask(json.dumps(out))
        return mask(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's naming
        """The text line, with the run id and job before any traceback."""
        text = super().formatMessage(record)
        ctx = run_context.get()
        if ctx.get("run_id") or ctx.get("job"):
            text = f"{text} [run={ctx.get('run_id') or '-'} job={ctx.get('job') or '-'}]"
        return text


def setup(level: str = "warning", fmt: str = "text") -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskingFormatter(fmt == "json"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("pmo_hub").setLevel(getattr(logging, level.upper(), logging.WARNING))
