"""Write a run's report page and contact sheet under `reports/<run_id>/`."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tasks.core.config import CatalogConfig
from tasks.reports.contact_sheet import contact_sheet_png
from tasks.reports.cost_report import CostReport
from tasks.reports.gallery import GALLERY_ROWS, build_gallery
from tasks.reports.page import page_data, render_page
from tasks.storage.fs import Storage
from tasks.storage.layout import contact_sheet_path, report_page_path
from tasks.storage.results import read_results

__all__ = ["ReportPage", "write_report_page"]


@dataclass(frozen=True)
class ReportPage:
    """Where the page and the contact sheet were written, and how many rows the gallery shows."""

    uris: dict[str, str]
    gallery_rows: int


def write_report_page(
    storage: Storage,
    report: CostReport,
    *,
    currency: str,
    catalog: CatalogConfig | None = None,
    gallery_rows: int = GALLERY_ROWS,
    seed: int = 0,
) -> ReportPage:
    """Write `reports/<run_id>/index.html` and `contact_sheet.png` for the run `report` is of.

    Args:
        storage: the run's output root.
        report: the run's cost report (its tables and chart go on the page).
        currency: the price table's currency.
        catalog: the run's catalog settings: the gallery reads sources under its source policy and caps;
            None shows outputs only (a source is never read without the policy that allowed it).
        gallery_rows: catalog rows in the gallery (a seeded sample when the run has more).
        seed: the sample's seed.

    Raises:
        StorageError: the results cannot be read, or the page not written. An image that cannot be
            read or is over the caps is shown as a note on the page instead.
    """
    results = read_results(storage).filter(pl.col("run_id") == report.run_id)
    gallery = build_gallery(results, storage, catalog, size=gallery_rows, seed=seed)
    html = render_page(page_data(results, report, gallery, currency=currency))
    sheet = contact_sheet_png(gallery, title=f"retouch run {report.run_id}: {len(gallery)} rows")
    uris = {
        "index.html": storage.write_bytes(report_page_path(report.run_id), html.encode("utf-8")),
        "contact_sheet.png": storage.write_bytes(contact_sheet_path(report.run_id), sheet),
    }
    return ReportPage(uris, len(gallery))
