"""Writing the stages' outputs: whole or not at all, byte-identical for equal content."""

import json

import pytest
import torch
from matplotlib.figure import Figure

from fmnist import atomic
from fmnist.train.history import EpochResult

RESULTS = [EpochResult(1, 0.9, 0.8, 0.7, 2.0, 0.01), EpochResult(2, 0.5, 0.85, 0.75, 3.0, 0.01)]


def listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_json_is_sorted_and_byte_identical(tmp_path):
    atomic.write_json(tmp_path / "a.json", {"b": 1, "a": [0.5]})
    first = (tmp_path / "a.json").read_bytes()
    atomic.write_json(tmp_path / "a.json", {"a": [0.5], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == first
    assert first == b'{\n  "a": [\n    0.5\n  ],\n  "b": 1\n}\n'
    assert listing(tmp_path) == ["a.json"]


def test_torch_files_are_byte_identical_for_equal_tensors(tmp_path):
    atomic.save_torch(tmp_path / "a.pt", {"x": torch.arange(5)})
    atomic.save_torch(tmp_path / "b.pt", {"x": torch.arange(5)})
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_a_failed_write_leaves_the_previous_file_and_no_partial(tmp_path):
    path = tmp_path / "m.json"
    atomic.write_json(path, {"v": 1})
    with pytest.raises(TypeError):
        atomic.write_json(path, {"v": object()})  # fails half-way through serialising
    assert json.loads(path.read_text()) == {"v": 1} and listing(tmp_path) == ["m.json"]


def test_a_stale_partial_of_a_killed_run_is_cleaned(tmp_path):
    path = tmp_path / "m.json"
    atomic.partial_path(path).write_text("left by kill -9")
    atomic.write_json(path, {"v": 2})
    assert listing(tmp_path) == ["m.json"]
    atomic.partial_path(path).write_text("left by kill -9")
    atomic.clean_partials(path)
    assert listing(tmp_path) == ["m.json"]


def test_write_dir_writes_each_file_into_the_folder(tmp_path):
    out = tmp_path / "raw"
    atomic.write_dir(out, {"a": b"1", "b": b"2"})
    assert listing(out) == ["a", "b"] and (out / "b").read_bytes() == b"2"


def test_figures_are_png_without_timestamps(tmp_path):
    fig = Figure()
    fig.subplots().plot([1, 2])
    atomic.save_figure(tmp_path / "a.png", fig)
    atomic.save_figure(tmp_path / "b.png", fig)
    data = (tmp_path / "a.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data == (tmp_path / "b.png").read_bytes()
    assert b"Software" not in data and b"matplotlib" not in data.lower()


def test_live_log_has_one_row_per_epoch_and_no_timings(tmp_path):
    (tmp_path / "live" / "plots" / "metrics").mkdir(parents=True)
    (tmp_path / "live" / "plots" / "metrics" / "old.tsv").write_text("left by another run")
    atomic.write_live(tmp_path / "live", RESULTS)
    tsv = (tmp_path / "live" / "plots" / "metrics" / "train_loss.tsv").read_text()
    assert tsv == "step\ttrain_loss\n1\t0.9\n2\t0.5\n"  # no timestamp column
    summary = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert "seconds" not in summary  # timings vary run to run
    assert not (tmp_path / "live" / "plots" / "metrics" / "old.tsv").exists()
    assert listing(tmp_path) == ["live"]


def test_live_log_leaves_out_the_epochs_fit_did_not_validate(tmp_path):
    nan = float("nan")
    atomic.write_live(tmp_path / "live", [EpochResult(1, 0.9, nan, nan, 2.0, 0.01), RESULTS[1]])
    metrics = tmp_path / "live" / "plots" / "metrics"
    assert (metrics / "train_loss.tsv").read_text() == "step\ttrain_loss\n1\t0.9\n2\t0.5\n"
    assert (metrics / "val_loss.tsv").read_text() == "step\tval_loss\n2\t0.85\n"
    assert "nan" not in (tmp_path / "live" / "metrics.json").read_text().lower()
