"""The stages' shared edge: one-line errors and exit codes, the command line, checked reads."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
import torch

from fmnist.atomic import LiveLog, partial_path, save_torch
from fmnist.errors import DataError, TrainingError
from fmnist.train.history import EpochResult

import _shared

ROOT = Path(__file__).resolve().parents[2]


def exit_code(main, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        _shared.run(main)
    return done.value.code, capsys.readouterr().err


@pytest.mark.parametrize("error", [DataError("a.pt: corrupt\nsecond line"),
                                   TrainingError("epoch 1: diverged")])
def test_our_errors_are_one_line_and_exit_1(capsys, error):
    def main() -> None:
        raise error

    code, err = exit_code(main, capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_ctrl_c_is_one_line_and_exit_130(capsys):
    def main() -> None:
        raise KeyboardInterrupt

    assert exit_code(main, capsys) == (_shared.INTERRUPTED, "error: interrupted\n")


def test_bugs_keep_their_traceback():
    def main() -> None:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        _shared.run(main)


def test_parse_requires_every_path_and_removes_stale_partials(tmp_path, monkeypatch, capsys):
    out = tmp_path / "metrics.json"
    stale = partial_path(out)
    stale.write_text("half-written by a killed run")
    monkeypatch.setattr(sys, "argv", ["stage", "--params", "p.yaml", "--out", str(out),
                                      "--impl", "torch"])
    args = _shared.parse("doc", inputs=["--params"], outputs=["--out"],
                 impl={"choices": ["custom", "torch"], "required": True})
    assert args.out == out and args.impl == "torch" and not stale.exists()

    monkeypatch.setattr(sys, "argv", ["stage", "--params", "p.yaml"])
    with pytest.raises(SystemExit):
        _shared.parse("doc", inputs=["--params"], outputs=["--out"])
    assert "the following arguments are required: --out" in capsys.readouterr().err


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root, where dvc.yaml is, as DVC runs the stages."""
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize(("path", "stage"), [
    ("data/prepared/train.pt", "prepare"), ("data/prepared", "prepare"),
    ("models/custom.pt", "train@custom"), ("models/torch.pt", "train@torch"),
    ("models/tuned.pt", "tune"), ("results/live/torch/plots/metrics/val_loss.tsv", "train@torch"),
    ("metrics/verify_ops.json", "verify_ops"), ("results/test.json", "evaluate"),
    ("params.yaml", None), ("data/prepared_other.pt", None)])
def test_producer_reads_dvc_yaml(in_repo, path, stage):
    assert _shared.producer(path) == stage


def test_missing_input_names_the_stage_that_makes_it(in_repo, tmp_path):
    missing = "results/live/tuned/absent.tsv"  # inside an output of the tune stage
    with pytest.raises(DataError, match=rf"^{missing}: not found; the 'tune' stage makes it: "
                                        r"run `dvc repro tune`$"):
        _shared.require_file(missing)
    with pytest.raises(DataError, match=r"x\.pt: not found$"):
        _shared.require_file(tmp_path / "x.pt")  # made by no stage: nothing to suggest


@pytest.mark.parametrize("content", [b"garbage", b"", pickle.dumps({"x": 1}),
                                     b"PK\x03\x04 truncated zip"])
def test_unreadable_torch_files_never_suggest_unsafe_loading(tmp_path, content):
    path = tmp_path / "train.pt"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        _shared.load_torch(path)
    message = str(err.value)
    assert message.startswith(f"{path}: not produced by this pipeline or corrupt")
    assert "weights_only" not in message


def test_a_pickled_object_is_refused_not_run(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran arbitrary code",))

    path = tmp_path / "model.pt"
    torch.save({"impl": Evil()}, path)
    with pytest.raises(DataError, match="not produced by this pipeline or corrupt"):
        _shared.load_torch(path)


def test_load_split_checks_the_content(tmp_path):
    path = tmp_path / "val.pt"
    save_torch(path, {"x": torch.rand(3, 3, 28, 28), "y": torch.eye(10)[:3]})
    with pytest.raises(DataError, match=r"val\.pt: images 'x' must be float32 \[N, 1, 28, 28\]"):
        _shared.load_split(path)


def test_read_curve_and_read_json(tmp_path):
    with LiveLog(tmp_path / "live") as log:
        log(EpochResult(2, 0.5, 0.85, 0.75, 3.0, 0.01))
        log(EpochResult(1, 0.9, 0.8, 0.7, 2.0, 0.01))
    assert _shared.read_curve(tmp_path / "live", "val_loss") == [0.8, 0.85]  # by step
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        _shared.read_json(bad)
    tsv = tmp_path / "live" / "plots" / "metrics" / "val_loss.tsv"
    tsv.write_text("step\tother\n1\t2\n")
    with pytest.raises(DataError, match="not a training log with columns step and val_loss"):
        _shared.read_curve(tmp_path / "live", "val_loss")
