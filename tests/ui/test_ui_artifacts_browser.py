"""The artifact, lineage and models pages in headless Chromium over a real run: statistics
with histograms (and a baseline side by side), anomalies in red, the model card in its
sandboxed frame, the lineage graph and the registry; screenshots in build/screenshots/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from artifact_support import MODEL, Gate, start_gate
from ui_support import chromium_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    started = start_gate(tmp_path_factory.mktemp("gate-browser"))
    yield started
    started.server.stop()


@pytest.fixture(scope="module")
def page(chromium: str, gate: Gate) -> Iterator[Any]:
    """One Chromium page for the module; requests off the server are aborted and fail."""
    with chromium_page(chromium, gate.server.url) as page:
        yield page


def open_page(page: Any, gate: Gate, path: str) -> None:
    page.goto(gate.server.url + path)
    page.wait_for_load_state("networkidle")


def test_statistics_view_draws_histograms_and_a_baseline(
    page: Any, gate: Gate, screenshot: Callable[[Any, str], Path]
) -> None:
    train_stats, drift_stats = gate.ids["conveyor.ExampleStatistics"]
    open_page(page, gate, f"/artifacts/{drift_stats}")
    page.wait_for_selector(".art-view[data-ready='1']")
    assert page.locator("h1").first.inner_text().startswith("ExampleStatistics #")
    assert page.locator(".art-split").count() == 2
    bars = page.locator("svg.art-hist rect")
    assert bars.count() > 20 and page.locator("svg.art-top rect").count() > 3
    assert {bars.nth(i).get_attribute("fill") for i in range(bars.count())} == {"#4e79a7"}
    assert page.locator(".art-producer a").first.inner_text() == gate.run_id
    screenshot(page, "artifact-statistics")

    page.select_option("#baseline", str(train_stats))
    page.wait_for_url(f"**/artifacts/{drift_stats}?baseline={train_stats}")
    page.wait_for_selector(".art-legend")
    fills = page.locator("svg.art-hist rect").evaluate_all(
        "els => els.map(e => e.getAttribute('fill'))"
    )
    assert "#f28e2b" in fills and "#4e79a7" in fills
    assert page.locator(".art-base").count() > 0
    screenshot(page, "artifact-statistics-baseline")


def test_anomalies_are_red(page: Any, gate: Gate, screenshot: Callable[[Any, str], Path]) -> None:
    open_page(page, gate, f"/artifacts/{gate.one('ExampleAnomalies')}")
    page.wait_for_selector(".art-view[data-ready='1']")
    rows = page.locator("table.art-anomalies tr.art-anomaly-error")
    assert rows.count() == 2
    colour = rows.first.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(253, 232, 232)"
    hit = page.locator("table.art-schema tr.art-anomalous").evaluate_all(
        "els => els.map(e => e.dataset.feature)"
    )
    assert sorted(hit) == ["island", "sex"]
    screenshot(page, "artifact-anomalies")


def test_model_card_in_a_sandboxed_frame(
    page: Any, gate: Gate, screenshot: Callable[[Any, str], Path]
) -> None:
    card = gate.one("ModelCard")
    open_page(page, gate, f"/artifacts/{card}")
    frame_el = page.wait_for_selector("iframe.art-card")
    assert frame_el.get_attribute("sandbox") == ""
    frame = frame_el.content_frame()
    frame.wait_for_load_state()
    frame.wait_for_selector("text=Penguin species")
    assert frame.locator("svg").count() > 0  # the card's own charts
    screenshot(page, "artifact-model-card")


def test_evaluation_table_has_interval_bars(page: Any, gate: Gate) -> None:
    open_page(page, gate, f"/artifacts/{gate.one('ModelEvaluation')}")
    page.wait_for_selector("table.art-evaluation")
    assert page.locator("table.art-evaluation tr[data-slice='overall'] .art-interval").count() > 0
    assert "BLESSED" in page.locator(".art-decision").inner_text()


def test_lineage_page_navigates(
    page: Any, gate: Gate, screenshot: Callable[[Any, str], Path]
) -> None:
    evaluation = gate.one("ModelEvaluation")
    open_page(page, gate, f"/artifacts/{evaluation}")
    page.click("#lineage-link")
    page.wait_for_url(f"**/lineage/artifact/{evaluation}")
    page.wait_for_selector(".lineage-graph svg .node")
    assert page.locator(".lineage-graph .node.focus").count() == 1
    assert page.locator(".lineage-graph .node.execution").count() >= 3
    screenshot(page, "lineage")
    page.click(".lineage-direction button[data-direction='upstream']")
    page.wait_for_url("**direction=upstream**")
    page.wait_for_selector(".lineage-graph svg .node")
    model = gate.one("Model")
    page.click(f".lineage-graph .node[data-id='a{model}']")
    page.wait_for_url(f"**/artifacts/{model}")
    page.wait_for_selector(".art-view[data-ready='1']")
    assert "signature" in page.locator(".art-view").inner_text().lower()


def test_models_pages(page: Any, gate: Gate, screenshot: Callable[[Any, str], Path]) -> None:
    open_page(page, gate, "/models")
    page.click(f"table.models-list a:text('{MODEL}')")
    page.wait_for_url(f"**/models/{MODEL}")
    page.wait_for_selector("table.models-versions tr[data-version='1']")
    row = page.locator("table.models-versions tr[data-version='1']").inner_text()
    assert "champion" in row and "blessed" in row and "accuracy" in row
    assert "champion" in page.locator("ol.models-history").inner_text()
    screenshot(page, "models")
