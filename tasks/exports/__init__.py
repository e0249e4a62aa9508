"""Exports: a results table as a Hugging Face dataset, WebDataset shards or one Parquet table with images."""

from tasks.exports.export import CARD_NAME, MANIFEST_NAME, export_results
from tasks.exports.names import sample_key, source_name
from tasks.exports.options import FORMATS, STATUSES, ExportFormat, ExportOptions
from tasks.exports.splits import Split, parse_splits, split_of
from tasks.exports.summary import ExportSummary

__all__ = [
    "CARD_NAME",
    "FORMATS",
    "MANIFEST_NAME",
    "STATUSES",
    "ExportFormat",
    "ExportOptions",
    "ExportSummary",
    "Split",
    "export_results",
    "parse_splits",
    "sample_key",
    "source_name",
    "split_of",
]
