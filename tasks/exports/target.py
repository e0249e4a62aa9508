"""What an export reads: a run's output and the config whose catalog settings govern its sources."""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import PipelineConfig, load_config
from tasks.core.errors import ConfigError
from tasks.storage.fs import Storage

__all__ = ["export_source"]


def export_source(target: str, config_path: str | None) -> tuple[Storage, PipelineConfig]:
    """The output to export and its config, from `retouch export TARGET [--config CONFIG]`.

    TARGET is the config file (its `output.uri` is exported), or an output URI; then `--config` is
    required, because source images are read under the config's catalog settings (storage options,
    source rules), which the run manifests record only as a hash. The output's storage options are
    the config's when TARGET is the config's own `output.uri`.

    Raises:
        ConfigError: TARGET is an output URI and no config was given, or the config is invalid.
    """
    is_config = target.endswith((".yaml", ".yml")) and Path(target).is_file()
    if config_path is None and not is_config:
        raise ConfigError(
            f"retouch export {target}: give the run's config with --config CONFIG (or pass the config file "
            "itself): source images are read under its catalog settings"
        )
    config = load_config(target if is_config else str(config_path))
    output = config.output
    if is_config or target.rstrip("/") == output.uri.rstrip("/"):
        return Storage(output.uri, output.storage_options), config
    return Storage(target), config
