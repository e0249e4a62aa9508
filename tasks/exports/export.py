"""Export a results table as a training-ready dataset: choose rows, stream them with their images, shard, describe.

Memory holds one batch of rows and images at a time (plus a few numbers per chosen row), whatever
the table's size; both the results and the destination may be any fsspec URL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

from tasks.core.config import PipelineConfig, config_hash
from tasks.core.errors import ConfigError
from tasks.exports.card import dataset_card
from tasks.exports.hf import HfFormat
from tasks.exports.loading import ImageLoader
from tasks.exports.options import ExportOptions
from tasks.exports.reading import RowBatch, iter_rows
from tasks.exports.runs import RunsInfo
from tasks.exports.selection import Selection, select_rows
from tasks.exports.shards import DATA_DIR, ShardFormat, ShardSink
from tasks.exports.sources import SourceReader
from tasks.exports.summary import ExportSummary, SplitTotals
from tasks.exports.table import TableFormat
from tasks.exports.wds import WebDatasetFormat
from tasks.http.client import new_client
from tasks.storage.fs import Storage

__all__ = ["CARD_NAME", "MANIFEST_NAME", "export_results"]

CARD_NAME = "README.md"
MANIFEST_NAME = "export.json"
_HTTP_TIMEOUT = 60.0  # seconds per http(s) source read


def export_results(
    output: Storage,
    dest: Storage,
    config: PipelineConfig,
    options: ExportOptions,
    *,
    runs: RunsInfo | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Export the results under `output` into `dest`, in `options.format`.

    Args:
        output: the run's output root (results/, images/, runs/).
        dest: where the export goes; its `data/`, README.md and export.json are the export's own.
        config: the run's config: its catalog settings govern how sources are read.
        options: format, filters, shards, splits.
        runs: the currency and config hashes of the runs under `output` (from their manifests), for
            the dataset card and a warning when the config given is not the one the rows were made with.
        on_batch: called after each batch with the rows handled so far and the rows chosen (for progress).

    Returns:
        What was written; also saved as `export.json` under `dest`.

    Raises:
        ConfigError: `dest` holds an earlier export and `options.overwrite` is not set, or a
            `--variant` is not in the results.
        CatalogError: the catalog could not be read for sources it held inline.
        StorageError: the results could not be read or the export not written.
    """
    selection = select_rows(output, options)  # first: a bad --variant must not cost an earlier export
    _prepare(dest, overwrite=options.overwrite)
    fmt = _format(options, selection)
    runs = runs or RunsInfo()
    summary = ExportSummary(
        format=options.format,
        source_uri=output.uri,
        dest_uri=dest.uri,
        splits={split.name: SplitTotals() for split in options.splits},
        currency=runs.currency,
        config_hash=config_hash(config),
    )
    job = _Job(output, dest, config, options, fmt, on_batch)
    summary.files = job.write(iter_rows(output, selection, options.batch_size), selection.total, summary)
    summary.warnings.extend(_config_warnings(summary, runs.config_hashes))
    if isinstance(fmt, HfFormat):
        size = sum(int(dest.fs.size(dest.path(name))) for name in summary.files)
        dest.write_bytes(CARD_NAME, dataset_card(summary, fmt.features, config, download_size=size).encode())
    dest.write_bytes(MANIFEST_NAME, json.dumps(summary.as_dict(), indent=2, default=str).encode())
    return summary


@dataclass(frozen=True)
class _Job:
    output: Storage
    dest: Storage
    config: PipelineConfig
    options: ExportOptions
    format: ShardFormat
    on_batch: Callable[[int, int], None] | None

    def write(self, batches: Iterator[RowBatch], total: int, summary: ExportSummary) -> list[str]:
        """Load and write batch after batch, one split's shards each; returns the shard files written."""
        names = [split.name for split in self.options.splits]
        done = 0
        with asyncio.Runner() as runner, ExitStack() as stack:
            http = new_client(timeout=_HTTP_TIMEOUT)
            stack.callback(runner.run, http.aclose())
            loader = ImageLoader(self.output, SourceReader(self.config.catalog, http), self.options.concurrency)
            sinks = [stack.enter_context(self._sink(name)) for name in names]
            for batch in batches:
                records, skipped = runner.run(loader.load(batch))
                for index, sink in enumerate(sinks):
                    sink.write([record for record in records if record.split == index])
                summary.add(records, skipped, names)
                done += len(batch.rows)
                if self.on_batch is not None:
                    self.on_batch(done, total)
        return [name for sink in sinks for name in sink.files]

    def _sink(self, split: str) -> ShardSink:
        options = self.options
        return ShardSink(self.dest, self.format, split, shard_size=options.shard_size, shard_bytes=options.shard_bytes)


def _config_warnings(summary: ExportSummary, hashes: dict[str, str]) -> list[str]:
    other = sorted(run for run in summary.run_ids if hashes.get(run, summary.config_hash) != summary.config_hash)
    if not other:
        return []
    return [
        f"run(s) {', '.join(other)} were made with another config than the one given (hash {summary.config_hash}); "
        "their sources were read with this config's catalog settings"
    ]


def _format(options: ExportOptions, selection: Selection) -> ShardFormat:
    if options.format == "hf":
        return HfFormat(selection.schema)
    if options.format == "parquet":
        return TableFormat(selection.schema)
    return WebDatasetFormat()


def _prepare(dest: Storage, *, overwrite: bool) -> None:
    """Refuse to mix two exports; with `overwrite`, remove the earlier one's files (and nothing else)."""
    own = [name for name in (DATA_DIR, CARD_NAME, MANIFEST_NAME) if dest.exists(name)]
    if own and not overwrite:
        raise ConfigError(
            f"{dest.url('')} already holds an export ({', '.join(own)}); pass --overwrite to replace it, "
            "or choose another --to"
        )
    for name in own:
        dest.fs.rm(dest.path(name), recursive=True)
