"""A model card renders in headless Chromium with the network refused, and looks like a card."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from conveyor.model.card import ModelCardText, build_model_card
from conveyor.model.card_html import render_model_card_html

# The names Chromium and Chrome install under (Debian, Ubuntu's snap wrapper, Google's package):
# found on PATH wherever the system put them, never downloaded.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The first Chromium-family browser on PATH, or None."""
    return next(filter(None, map(shutil.which, BROWSERS)), None)


CHROMIUM = find_chromium()

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", BROWSERS)
def test_chromium_is_found_on_path_under_each_of_its_names(tmp_path: Path, monkeypatch, name):
    browser = tmp_path / name
    browser.write_text("#!/bin/sh\n", encoding="utf-8")
    browser.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() == str(browser)
    browser.chmod(0o644)  # not executable: not a browser
    assert find_chromium() is None


def _slice(count: int, auc: float, recall: float, features: dict[str, str]) -> dict[str, Any]:
    return {
        "count": count,
        "metrics": {
            "accuracy": 0.85,
            "roc_auc": auc,
            "recall": recall,
            "confusion_matrix": [[2800, 200], [400, 600]],
        },
        "too_small": count < 30,
        "features": features,
        "intervals": {"roc_auc": [auc - 0.02, auc + 0.02], "accuracy": [0.84, 0.86]},
    }


def _card() -> dict[str, Any]:
    evaluation = {
        "task": "classification",
        "label": "income_gt_50k",
        "classes": [0, 1],
        "split": "eval",
        "config": {
            "slices": [{"feature_keys": ["sex"], "buckets": {}}],
            "thresholds": [{"metric": "roc_auc", "lower_bound": 0.7, "slices": ["overall"]}],
            "min_slice_size": 30,
        },
        "model": {"uri": "file:///store/model", "artifact_id": 12, "framework": "lightgbm"},
        "bootstrap": {"resamples": 200, "confidence": 0.95, "seed": 0},
        "slices": {
            "overall": _slice(4000, 0.81, 0.5, {}),
            "sex=Female": _slice(1300, 0.78, 0.4, {"sex": "Female"}),
            "sex=Male": _slice(2680, 0.82, 0.55, {"sex": "Male"}),
            "sex=null": _slice(20, 0.7, 0.3, {"sex": "null"}),
        },
        "fairness": {
            "metrics": ["recall"],
            "features": {"sex": {"recall": {"values": {"Female": 0.4, "Male": 0.55},
                                            "gap": 0.15, "ratio": 0.727}}},
            "largest": {"feature": "sex", "metric": "recall", "gap": 0.15,
                        "max_slice": "sex=Male", "min_slice": "sex=Female"},
        },
        "blessing": {"blessed": True, "reason": "FIRST_RUN_VALUE_THRESHOLDS_ONLY"},
    }  # fmt: skip
    table = pa.table(
        {
            "sex": ["Female", "Male", "Male", None] * 25,
            "income_gt_50k": [0, 1, 0, 1] * 25,
        }
    )
    text = ModelCardText(
        name="Income classifier",
        intended_use="Pre-screening of loan applications; a person makes the decision.",
        references=["https://example.com/model-paper"],  # text only: never fetched
        owners=[{"name": "Risk team", "contact": "risk@example.com"}],
    )
    return build_model_card(
        evaluation,
        text=text,
        data={"train": table, "eval": table.slice(0, 40)},
        run={"run_id": "r-1", "pipeline": "census"},
        date="2024-05-01",
    )


def _distinct_colours(page: Any, png: bytes) -> int:
    """Distinct colours in a PNG, counted by the browser itself (a canvas over a data: URL)."""
    url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return int(
        page.evaluate(
            """async (url) => {
                const img = new Image(); img.src = url; await img.decode();
                const c = document.createElement('canvas');
                c.width = img.width; c.height = img.height;
                const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
                const d = ctx.getImageData(0, 0, c.width, c.height).data;
                const seen = new Set();
                for (let i = 0; i < d.length; i += 28)
                    seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
                return seen.size;
            }""",
            url,
        )
    )


@pytest.mark.skipif(
    CHROMIUM is None, reason=f"no Chromium on PATH (looked for {', '.join(BROWSERS)})"
)
def test_model_card_renders_offline_in_headless_chromium(tmp_path: Path):
    sync_api = pytest.importorskip("playwright.sync_api")
    html_file = tmp_path / "model_card.html"
    html_file.write_text(render_model_card_html(_card()), encoding="utf-8")
    screenshot = tmp_path / "model_card.png"
    refused: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file://", "data:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", guard)
            # the guard sees what a page asks for: a page that fetches is caught
            page.set_content('<img src="http://192.0.2.1/pixel.png">')
            page.wait_for_timeout(200)
            assert refused == ["http://192.0.2.1/pixel.png"]
            refused.clear()

            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(html_file.as_uri(), wait_until="load")
            page.wait_for_timeout(200)
            assert refused == [], f"the card tried to fetch {refused}"
            assert all(u.startswith(("file://", "data:")) for u in requested), requested

            for text in ("Income classifier", "Blessed", "sex=Female", "Largest fairness gap"):
                assert page.get_by_text(text, exact=False).first.is_visible(), text
            sizes = page.eval_on_selector_all(
                "svg",
                "els => els.map(e => { const r = e.getBoundingClientRect();"
                " return [r.width, r.height, e.getAttribute('aria-label'),"
                " e.querySelector(':scope > title') !== null]; })",
            )
            assert len(sizes) >= 5  # roc_auc, recall, accuracy, confusion matrix, label charts
            for width, height, label, titled in sizes:
                assert width > 0 and height > 0 and label and titled, (width, height, label)
            badge = page.locator(".mc-badge").first
            colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour == "rgb(23, 128, 61)"  # blessed: green

            page.screenshot(path=str(screenshot), full_page=True)
            png = screenshot.read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
            assert _distinct_colours(page, png) > 50  # text, charts, badges: not a blank page
        finally:
            browser.close()
