"""The UI benchmark's Conveyor side: ``conveyor ui`` in a subprocess over a store, and the
metric chart timed in headless Chromium (Debian's, found on PATH; never downloaded)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from _ui_mlflow import free_port

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRAWN = """() => {
  const c = document.querySelector('canvas[data-render-ms]');
  return c ? [performance.now(), Number(c.dataset.renderMs), Number(c.dataset.points || 0)]
           : null;
}"""


def find_chromium() -> str | None:
    """The first Chromium-family browser on PATH, or None."""
    return next(filter(None, map(shutil.which, BROWSERS)), None)


class UIServer:
    """``conveyor ui`` on a free loopback port over the metadata store at ``url``."""

    def __init__(self, conveyor: str, url: str, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "ui.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        env.update(
            CONVEYOR_HOME=str(home),
            CONVEYOR_METADATA_URL=url,
            CONVEYOR_AGENT="off",
            CONVEYOR_ARTIFACT_ROOT=str(home / "artifacts"),
        )
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [conveyor, "ui", "--port", str(self.port)],
                cwd=home,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"conveyor ui exited {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"conveyor ui did not answer in 120 s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def chart_timings(
    chromium: str, base: str, m: dict[str, Any], reps: int, backend: str
) -> dict[str, Any]:
    """Open ``/charts?runs=LONG&name=SERIES`` ``reps`` times (the first load untimed): the
    time from navigation start to the canvas carrying ``data-render-ms`` (set by the charts
    page once drawn), that attribute (data received to drawn) and the points drawn."""
    raw = m["sizes"]["long_steps"]
    out: dict[str, Any] = {"backend": backend, "raw_points": raw, "status": "ok"}
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return dict(out, status="not built: no playwright")
    url = f"{base}/charts?runs={m['long_run']}&name={m['long_series']}"
    drawn: list[float] = []
    render: list[float] = []
    points = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            for i in range(reps + 1):
                page.goto(url)
                try:
                    handle = page.wait_for_function(DRAWN, timeout=15_000)
                except Error:
                    return dict(out, status=f"not built: no canvas[data-render-ms] ({errors[:2]})")
                now_ms, render_ms, points = handle.json_value()
                if i:  # the first load fills the browser's module cache
                    drawn.append(now_ms)
                    render.append(render_ms)
        finally:
            browser.close()
    if not 0 < points <= raw:
        out["status"] = f"wrong: {points} points drawn of {raw}"
    return dict(
        out,
        points=points,
        drawn_ms=drawn,
        render_ms=render,
        p50_drawn_ms=statistics.median(drawn),
        p95_drawn_ms=max(drawn),
        p50_render_ms=statistics.median(render),
        p95_render_ms=max(render),
    )
