"""The dataset card of a Hugging Face export: README.md with the Hub's YAML front matter, then prose."""

from __future__ import annotations

from typing import Any

import yaml

from tasks.core.config import PipelineConfig
from tasks.exports.shards import DATA_DIR
from tasks.exports.summary import ExportSummary

__all__ = ["dataset_card", "public_config"]

_REDACTED = "<redacted>"


def public_config(config: PipelineConfig) -> dict[str, Any]:
    """The config as it may be published: API keys dropped, storage options' values hidden."""
    data = config.model_dump(mode="json", exclude={"providers": {"__all__": {"api_key"}}}, exclude_none=True)
    for section in ("catalog", "output"):
        options = data.get(section, {}).get("storage_options")
        if options:
            data[section]["storage_options"] = dict.fromkeys(options, _REDACTED)
    return data


def dataset_card(
    summary: ExportSummary, features: dict[str, Any], config: PipelineConfig, *, download_size: int
) -> str:
    """README.md for the export: front matter (config name, data files, features, splits), then the body.

    Args:
        summary: what the export wrote.
        features: the `datasets` features of the Parquet files, by column.
        config: the pipeline config the results came from (published without secrets).
        download_size: bytes of the Parquet files.
    """
    front = {
        "pretty_name": f"retouch edits of {config.catalog.uri}",
        "tags": ["retouch", "image-editing", "synthetic"],
        "task_categories": ["image-to-image"],
        "configs": [{"config_name": "default", "data_files": _data_files(summary)}],
        "dataset_info": {
            "config_name": "default",
            "features": [_card_feature(name, feature) for name, feature in features.items()],
            "splits": [
                {"name": name, "num_bytes": totals.bytes, "num_examples": totals.rows}
                for name, totals in summary.splits.items()
            ],
            "download_size": download_size,
            "dataset_size": sum(totals.bytes for totals in summary.splits.values()),
        },
    }
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n\n" + "\n\n".join(_body(summary, config)) + "\n"


def _data_files(summary: ExportSummary) -> list[dict[str, str]]:
    return [{"split": name, "path": f"{DATA_DIR}/{name}-*.parquet"} for name in summary.splits]


def _card_feature(name: str, feature: dict[str, Any]) -> dict[str, Any]:
    if feature["_type"] == "Image":
        return {"name": name, "dtype": "image"}
    if feature["_type"] == "List":
        return {"name": name, "list": feature["feature"]["dtype"]}
    return {"name": name, "dtype": feature["dtype"]}


def _body(summary: ExportSummary, config: PipelineConfig) -> list[str]:
    files = ", ".join(f'"{name}": "{DATA_DIR}/{name}-*.parquet"' for name in summary.splits)
    return [
        f"# retouch edits of `{config.catalog.uri}`",
        "One row per edit: the source image (`original_image`), the instruction (`edit_prompt`) and the "
        "result (`edited_image`), with the variant, provider, model, seed and cost of the edit, then the "
        "catalog's own columns. Made with retouch from the results under "
        f"`{summary.source_uri}` (runs {', '.join(summary.run_ids) or 'unknown'}).",
        "## Load it\n\nFrom this folder:\n\n```python\nfrom datasets import load_dataset\n\n"
        f'edits = load_dataset("parquet", data_files={{{files}}})\n'
        "# or by the folder's path (or a Hub repo holding it): load_dataset(PATH)\n```",
        "## Contents\n\n" + _table(["split", "rows"], [[n, t.rows] for n, t in summary.splits.items()]),
        _table(["variant", "rows"], [[name, count] for name, count in sorted(summary.variants.items())]),
        _providers(summary),
        _skipped(summary),
        "## The config\n\nAs run (config hash "
        f"`{summary.config_hash}`; API keys and storage options left out):\n\n```yaml\n"
        + yaml.safe_dump(public_config(config), sort_keys=False, allow_unicode=True)
        + "```",
    ]


def _providers(summary: ExportSummary) -> str:
    currency = summary.currency or "money"
    rows = [
        [name, totals.rows, f"{totals.cost:.4f}", f"{totals.credits:g}", totals.unpriced]
        for name, totals in sorted(summary.providers.items())
    ]
    total = sum(totals.cost for totals in summary.providers.values())
    table = _table(["provider", "rows", f"cost ({currency})", "credits", "rows without a cost"], rows)
    return f"{table}\n\nTotal cost of the exported edits: {total:.4f} {currency}."


def _skipped(summary: ExportSummary) -> str:
    if not summary.skipped:
        return "Every chosen row was exported."
    shown = "\n".join(f"- {item.reason}" for item in summary.skipped_examples)
    return f"{summary.skipped} chosen row(s) were left out (their images could not be read), e.g.:\n\n{shown}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)
