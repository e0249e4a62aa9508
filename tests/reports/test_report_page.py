"""The run's report page: written by every run, rendered in real headless Chromium, escaped, guarded, sampled."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from tasks.reports.gallery import build_gallery, sample_row_ids
from tasks.reports.thumbnails import THUMB_SIDE
from tasks.storage.fs import Storage
from tasks.storage.layout import image_path
from tests.cli.kit import invoke
from tests.helpers import make_png
from tests.reports.browser import CHROMIUM, chromium_page
from tests.reports.conftest import SCRIPT_PROMPT, Run

# Everything the test reads off the rendered page, in one evaluation.
_READ_PAGE = """(() => {
  const images = [...document.images].map(img => ({alt: img.alt, width: img.naturalWidth, done: img.complete}));
  const counts = Object.fromEntries([...document.querySelectorAll('[data-count]')]
    .map(node => [node.dataset.count, node.textContent.trim()]));
  const rows = [...document.querySelectorAll('#gallery [data-row-id]')].map(row => ({
    id: row.dataset.rowId,
    source: row.querySelectorAll('figure.source img').length,
    outputs: row.querySelectorAll('figure.output img').length,
    note: row.querySelector('figure.source').textContent,
  }));
  const failures = [...document.querySelectorAll('.failure')].map(node =>
    [node.dataset.provider, node.dataset.errorType, node.querySelector('[data-failed-jobs]').textContent.trim()]);
  return {images, counts, rows, failures, scripts: document.scripts.length, text: document.body.innerText};
})()"""


def jobs_by_status(results: pl.DataFrame) -> dict[str, int]:
    grouped = results.group_by("status").agg(pl.col("job_key").n_unique().alias("jobs"))
    return {row["status"]: row["jobs"] for row in grouped.to_dicts()}


def page_dir(run: Run) -> Path:
    return run.output / "reports" / run.summary.run_id


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's package)")
def test_the_page_renders_in_chromium_with_every_image_and_the_tables_counts(run: Run, tmp_path: Path) -> None:
    results = run.results()
    with chromium_page(tmp_path / "profile") as page:
        page.load(page_dir(run) / "index.html")
        shown = page.evaluate(_READ_PAGE)
        screenshot = page.screenshot()

    broken = [image["alt"] for image in shown["images"] if not image["done"] or image["width"] == 0]
    outputs = results.filter(pl.col("output_uri").is_not_null()).height
    assert broken == [] and len(shown["images"]) == 1 + 4 + outputs  # the chart, 4 allowed sources, outputs
    expected = {"succeeded": 0, "failed": 0, "unknown": 0, "skipped": 0} | jobs_by_status(results)
    expected["images"] = results.filter(pl.col("output_uri").is_not_null()).height
    assert {status: int(text.replace(",", "")) for status, text in shown["counts"].items()} == expected
    failed = results.filter(pl.col("status") == "failed").group_by("provider", "error_type").len()
    assert sorted(tuple(group) for group in shown["failures"]) == sorted(
        (row["provider"], row["error_type"], str(row["len"])) for row in failed.to_dicts()
    )
    rows = {row["id"]: row for row in shown["rows"]}
    assert sorted(rows) == sorted(results["row_id"].unique().to_list())
    for row_id, row in rows.items():
        succeeded = results.filter((pl.col("row_id") == row_id) & pl.col("output_uri").is_not_null()).height
        assert row["outputs"] == succeeded
    # The markup in a prompt is shown as text, and nothing on the page runs.
    assert shown["scripts"] == 0 and SCRIPT_PROMPT in shown["text"]
    with Image.open(io.BytesIO(screenshot)) as image:
        assert image.width >= 1000 and image.height > 1600  # the whole page, gallery included
        assert len(image.convert("L").getcolors(maxcolors=1 << 16) or [0] * 100) > 50  # drawn, not blank


def test_a_prompt_with_markup_is_escaped_in_the_html(run: Run) -> None:
    html = (page_dir(run) / "index.html").read_text(encoding="utf-8")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "script-src" not in html and "default-src 'none'" in html  # the page's CSP forbids scripts too


def test_a_source_the_policy_refuses_is_never_read_and_the_page_says_why(run: Run) -> None:
    html = (page_dir(run) / "index.html").read_text(encoding="utf-8")
    refused = html.split('data-row-id="S3"', 1)[1].split('data-row-id="S4"', 1)[0]

    assert "source not shown" in refused and "outside the catalog" in refused
    source_figure = refused.split("</figure>", 1)[0]
    assert "<img" not in source_figure


def test_report_without_the_config_shows_outputs_but_reads_no_source(run: Run, tmp_path: Path) -> None:
    answer = invoke("report", str(run.output), "--run", run.summary.run_id)

    assert answer.exit_code == 0, answer.output
    html = (page_dir(run) / "index.html").read_text(encoding="utf-8")
    sources = [part.split("</figure>", 1)[0] for part in html.split('<figure class="source">')[1:]]
    assert len(sources) == 5 and not any("<img" in source for source in sources)
    assert all("source not shown: report with the run" in source for source in sources)
    assert html.count('<figure class="output') == 10 and html.count("data:image/webp;base64,") == 7
    with Image.open(page_dir(run) / "contact_sheet.png") as sheet:
        assert sheet.format == "PNG" and sheet.height > sheet.width  # a row per catalog row, 5 rows of 3

    again = invoke("report", str(run.config))  # the config as TARGET: its policy reads the sources again
    assert again.exit_code == 0, again.output
    assert (page_dir(run) / "index.html").read_text(encoding="utf-8").count("data:image/webp;base64,") == 7 + 4


def test_the_gallery_sample_is_seeded_and_capped() -> None:
    results = pl.DataFrame({"row_id": [f"R{i:03d}" for i in range(200)] * 2})

    first = sample_row_ids(results, size=24, seed=3)
    assert len(first) == 24 and first == sorted(set(first))
    assert sample_row_ids(results, size=24, seed=3) == first
    assert sample_row_ids(results, size=24, seed=4) != first
    assert sample_row_ids(results.head(5), size=24) == [f"R{i:03d}" for i in range(5)]


def test_an_output_that_does_not_decode_is_a_note_in_the_gallery_not_an_error(tmp_path: Path) -> None:
    output = Storage(str(tmp_path / "out"))
    good, bad = "a" * 64, "b" * 64
    output.write_bytes(image_path("v", good, 0, "png"), make_png(size=(400, 300)))
    output.write_bytes(image_path("v", bad, 0, "png"), make_png()[:60])  # a truncated PNG
    rows = [
        {"job_key": key, "output_index": 0, "row_id": row_id, "variant": "v", "provider": "local", "seed": 1,
         "prompt": "blur", "source": "images/x.png", "output_uri": output.url(image_path("v", key, 0, "png")),
         "status": "succeeded", "cost": 0.0, "credits": 0.0}
        for key, row_id in ((good, "R1"), (bad, "R2"))
    ]  # fmt: skip

    gallery = build_gallery(pl.DataFrame(rows), output, None)

    (first,), (second,) = (row.cells for row in gallery)
    assert first.image is not None and max(first.image.width, first.image.height) == THUMB_SIDE
    assert second.image is None and second.note.startswith("output not shown: ")
    assert all(row.source is None and "source not shown" in row.source_note for row in gallery)
