"""What an export wrote: rows and bytes per split, rows per variant, rows and cost per provider, skips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tasks.exports.loading import ExportRecord, Skipped

__all__ = ["ExportSummary", "ProviderTotals", "SplitTotals"]

_EXAMPLES = 10  # skipped rows named in the summary and the card


@dataclass
class SplitTotals:
    rows: int = 0
    bytes: int = 0


@dataclass
class ProviderTotals:
    rows: int = 0
    cost: float = 0.0
    credits: float = 0.0
    unpriced: int = 0  # rows with no cost recorded: reported, never counted as zero


@dataclass
class ExportSummary:
    """Counts of one export, filled as batches are written; saved as the export's `export.json`."""

    format: str
    source_uri: str
    dest_uri: str
    splits: dict[str, SplitTotals]
    variants: dict[str, int] = field(default_factory=dict)
    providers: dict[str, ProviderTotals] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)
    currency: str = ""
    config_hash: str = ""
    skipped: int = 0
    skipped_examples: list[Skipped] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(split.rows for split in self.splits.values())

    def add(self, records: Sequence[ExportRecord], skipped: Sequence[Skipped], split_names: Sequence[str]) -> None:
        """Count a written batch (`records`) and the rows it left out."""
        for record in records:
            split = self.splits[split_names[record.split]]
            split.rows += 1
            split.bytes += len(record.source) + len(record.edited or b"")
            variant = str(record.row.get("variant"))
            self.variants[variant] = self.variants.get(variant, 0) + 1
            totals = self.providers.setdefault(str(record.row.get("provider")), ProviderTotals())
            totals.rows += 1
            cost, credits = record.row.get("cost"), record.row.get("credits")
            totals.unpriced += cost is None
            totals.cost += cost or 0.0
            totals.credits += credits or 0.0
            run_id = record.row.get("run_id")
            if run_id and run_id not in self.run_ids:
                self.run_ids.append(str(run_id))
        self.skipped += len(skipped)
        self.skipped_examples.extend(skipped[: max(0, _EXAMPLES - len(self.skipped_examples))])

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = self.rows
        return data
