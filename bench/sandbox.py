"""The benchmark's handle on a sandbox running in its own process (`bench.sandbox_proc`).

    with BenchSandbox.start(projects=100, items=80, seed=7, workdir=tmp) as sb:
        sb.configure("*", latency_ms=50)        # POST /_sandbox/settings
        sb.reset_stats(); ...; sb.stats()        # per-system request counts as the server saw them
        sb.cmd("snapshot")                       # the emulators' state, read in their process (no HTTP)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]


@dataclass
class BenchSandbox:
    proc: subprocess.Popen
    info: dict[str, Any]
    http: requests.Session = field(default_factory=requests.Session)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, *, projects: int, items: int, seed: int, workdir: Path, timeout_s: float = 600) -> "BenchSandbox":
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sandbox_proc", "--projects", str(projects), "--items", str(items),
             "--seed", str(seed), "--out", str(workdir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(workdir / "sandbox.log", "w"), text=True,
            cwd=REPO, env=env)
        line = _readline(proc, timeout_s)
        if not line:
            proc.kill()
            raise RuntimeError(f"the sandbox process exited before it was ready; see {workdir / 'sandbox.log'}")
        return cls(proc, json.loads(line))

    # ---- control plane (HTTP, not counted in the stats) ------------------------------------------------
    @property
    def url(self) -> str:
        return self.info["url"]

    def configure(self, system: str, **settings: Any) -> None:
        """Latency, rate limit and window of one system ("jira", "sheets", "graph", "login") or "*"."""
        systems = ["jira", "sheets", "graph", "login"] if system == "*" else [system]
        r = self.http.post(f"{self.url}/_sandbox/settings", json={s: settings for s in systems}, timeout=30)
        r.raise_for_status()

    def sheets_quotas(self, per_minute: int) -> None:
        """Google's per-minute Sheets quotas (read/write, per project and per user)."""
        body = {k: per_minute for k in ("read_per_project", "write_per_project", "read_per_user", "write_per_user")}
        self.http.post(f"{self.url}/_sandbox/sheets/settings", json=body, timeout=30).raise_for_status()

    def stats(self) -> dict[str, dict]:
        r = self.http.get(f"{self.url}/_sandbox/stats", timeout=30)
        r.raise_for_status()
        return r.json()["systems"]

    def reset_stats(self) -> None:
        self.http.post(f"{self.url}/_sandbox/stats/reset", timeout=30).raise_for_status()

    def jira_users(self) -> list[dict]:
        return self.http.get(f"{self.url}/_sandbox/jira/users", timeout=30).json()["users"]

    # ---- the sandbox process's own commands (state read in-process) ------------------------------------
    def cmd(self, name: str, **args: Any) -> dict:
        with self._lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"cmd": name, **args}) + "\n")
            self.proc.stdin.flush()
            line = _readline(self.proc, 600)
        if not line:
            raise RuntimeError("the sandbox process stopped")
        return json.loads(line)

    def stop(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.http.close()

    def __enter__(self) -> "BenchSandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _readline(proc: subprocess.Popen, timeout_s: float) -> str:
    """One line of the process's stdout, or "" when it exits or `timeout_s` passes first."""
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    t.start()
    t.join(timeout_s)
    return out[0] if out else ""
