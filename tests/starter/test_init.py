"""`retouch init` from a folder of images and from a CSV with unusual column names, then validate and a real run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from tasks.prepare import prepare_config
from tests.helpers import make_png

runner = CliRunner(env={"COLUMNS": "200"})


def results(output: Path) -> pl.DataFrame:
    return pl.read_parquet(output / "results" / "*.parquet")


@pytest.mark.usefixtures("prefect_harness")
def test_folder_of_images_to_a_run(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for name in ("red.png", "blue.jpg", "shoes/left.png", "shoes/right.webp"):
        make_png(photos / name)
    make_png(photos / ".hidden" / "skip.png")
    (photos / "notes.txt").write_text("not an image")
    (tmp_path / "prompts.csv").write_text("file,prompt\nred.png,grayscale\nshoes/left.png,rotate 90\n")
    out = tmp_path / "project"
    made = runner.invoke(
        app, ["init", str(photos), "--out", str(out), "--prompts", str(tmp_path / "prompts.csv"), "--prompt", "invert"]
    )
    assert made.exit_code == 0, made.output
    catalog = pl.read_parquet(out / "catalog.parquet").sort("id")
    assert catalog["id"].to_list() == ["blue", "red", "shoes/left", "shoes/right"]
    assert catalog["prompt"].to_list() == ["invert", "grayscale", "rotate 90", "invert"]
    checked = runner.invoke(app, ["validate", str(out / "retouch.yaml")])
    assert checked.exit_code == 0, checked.output
    assert "4 rows" in checked.output
    ran = runner.invoke(app, ["run", str(out / "retouch.yaml")])
    assert ran.exit_code == 0, ran.output
    table = results(out / "out")
    assert table.height == 4 and set(table["status"]) == {"succeeded"}
    rotated = table.filter(pl.col("row_id") == "shoes/left")
    assert (rotated["width"][0], rotated["height"][0]) == (32, 48)  # the prompts file's "rotate 90"


@pytest.mark.usefixtures("prefect_harness")
def test_csv_with_unusual_column_names_to_a_run(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    for index in range(3):
        make_png(shop / "pics" / f"p{index}.png", seed=index)
    pl.DataFrame(
        {
            "Product Code": ["P-0", "P-1", "P-2"],
            "Notes": ["blue one", "the red one", "green"],
            "photoFile": [f"pics/p{index}.png" for index in range(3)],
            "Edit Instruction": ["sepia", "blur 2", "mirror"],
            "price": [1.5, 2.0, 3.25],
        }
    ).write_csv(shop / "products.csv")
    out = tmp_path / "elsewhere"
    made = runner.invoke(app, ["init", str(shop / "products.csv"), "--out", str(out)])
    assert made.exit_code == 0, made.output
    config = yaml.safe_load((out / "retouch.yaml").read_text())
    assert config["catalog"]["columns"] == {"id": "Product Code", "image": "photoFile", "prompt": "Edit Instruction"}
    assert config["edits"][0]["prompt"] == "{prompt}"  # the catalog's prompts are local instructions
    assert runner.invoke(app, ["validate", str(out / "retouch.yaml")]).exit_code == 0
    ran = runner.invoke(app, ["run", str(out / "retouch.yaml")])
    assert ran.exit_code == 0, ran.output
    table = results(out / "out")
    assert sorted(table["row_id"]) == ["P-0", "P-1", "P-2"] and set(table["status"]) == {"succeeded"}
    assert table.schema["price"] == pl.Float64 and set(table["Notes"]) == {"blue one", "the red one", "green"}


def test_every_commented_remote_provider_validates_once_uncommented(tmp_path: Path, monkeypatch) -> None:
    make_png(tmp_path / "in" / "a.png")
    pl.DataFrame({"sku": ["a"], "url": ["in/a.png"], "caption": ["make the background white"]}).write_parquet(
        tmp_path / "catalog.parquet"
    )
    made = runner.invoke(app, ["init", str(tmp_path / "catalog.parquet"), "--out", str(tmp_path / "p")])
    assert made.exit_code == 0, made.output
    text = (tmp_path / "p" / "retouch.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["catalog"]["uri"] == str(tmp_path / "catalog.parquet")  # a Parquet catalog is used in place
    assert config["edits"][0]["prompt"] != "{prompt}"  # prose prompts: the local preview edits on its own
    uncommented = re.sub(r"(?m)^(  +)# (?=- name:|  [a-z_]+:|[a-z]+\.[a-z]+:)", r"\1", text)  # edits, providers
    full = yaml.safe_load(uncommented)
    assert [edit["provider"] for edit in full["edits"]][1:] == [
        "picsart.edit",
        "picsart.outpaint",
        "pixapi.edits",
        "fashn.edit",
    ]
    for env in {settings["api_key_env"] for settings in full["providers"].values() if settings}:
        monkeypatch.setenv(env, "a-key")
    (tmp_path / "p" / "all.yaml").write_text(uncommented)
    prepared = prepare_config(str(tmp_path / "p" / "all.yaml"))  # what `retouch validate` checks
    assert prepared.rows == 1 and len(prepared.config.edits) == 5


def test_init_refuses_what_it_cannot_map_or_would_overwrite(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps({"a": i, "b": "x y"}) for i in range(2)))
    failed = runner.invoke(app, ["init", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "p")])
    assert failed.exit_code == 2 and "image column" in failed.output and "--image-column" in failed.output
    make_png(tmp_path / "imgs" / "a.png")
    assert runner.invoke(app, ["init", str(tmp_path / "imgs"), "--out", str(tmp_path / "p")]).exit_code == 0
    again = runner.invoke(app, ["init", str(tmp_path / "imgs"), "--out", str(tmp_path / "p")])
    assert again.exit_code == 2 and "--force" in again.output
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"file": "b.png", "prompt": "blur"}))
    missing = runner.invoke(
        app, ["init", str(tmp_path / "imgs"), "--out", str(tmp_path / "q"), "--prompts", str(prompts)]
    )
    assert missing.exit_code == 2 and "no prompt for 1 image(s): a.png" in missing.output


def test_a_folder_on_object_storage_is_referred_to_by_url(tmp_path: Path) -> None:
    import fsspec

    memory = fsspec.filesystem("memory")
    for name in ("a.png", "deep/b.jpg"):
        memory.pipe(f"/init-test/photos/{name}", make_png())
    made = runner.invoke(app, ["init", "memory://init-test/photos", "--out", str(tmp_path), "--prompt", "sepia"])
    assert made.exit_code == 0, made.output
    catalog = pl.read_parquet(tmp_path / "catalog.parquet").sort("id")
    assert catalog["image"].to_list() == ["memory://init-test/photos/a.png", "memory://init-test/photos/deep/b.jpg"]
    assert catalog["id"].to_list() == ["a", "deep/b"]
    prepared = prepare_config(str(tmp_path / "retouch.yaml"))
    assert prepared.rows == 2 and prepared.config.edits[0].prompt == "{prompt}"
    memory.rm("/init-test", recursive=True)
