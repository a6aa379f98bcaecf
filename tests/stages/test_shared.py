"""The stages' shared edge: one-line errors and exit codes, the command line, checked reads."""

import pickle
import sys
from fractions import Fraction

import pytest
import torch

from fmnist.atomic import partial_path, save_torch, write_live
from fmnist.errors import DataError, TrainingError
from fmnist.params import validate
from fmnist.train.fit import Training
from fmnist.train.history import EpochResult

import _shared


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

    assert exit_code(main, capsys) == (_shared.INTERRUPTED,
                                       "error: interrupted (resume with dvc repro)\n")


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


def test_a_missing_input_says_to_run_dvc_repro(tmp_path):
    with pytest.raises(DataError, match=r"x\.pt: not found: run `dvc repro` to make it$"):
        _shared.require_file(tmp_path / "x.pt")


# a pickle of a class torch's safe loader refuses (its error advises weights_only=False);
# protocol 2, torch's own, as protocol 4 adds a torch warning about the protocol
FOREIGN_PICKLE = pickle.dumps({"x": Fraction(1, 3)}, protocol=2)


@pytest.mark.parametrize("content", [b"garbage", b"", FOREIGN_PICKLE,
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
    write_live(tmp_path / "live", [EpochResult(2, 0.5, 0.85, 0.75, 3.0, 0.01),
                                    EpochResult(1, 0.9, 0.8, 0.7, 2.0, 0.01)])
    assert _shared.read_curve(tmp_path / "live", "val_loss") == [0.8, 0.85]  # by step
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        _shared.read_json(bad)
    tsv = tmp_path / "live" / "plots" / "metrics" / "val_loss.tsv"
    tsv.write_text("step\tother\n1\t2\n")
    with pytest.raises(DataError, match="not a training log with columns step and val_loss"):
        _shared.read_curve(tmp_path / "live", "val_loss")


def training() -> Training:
    model = torch.nn.Linear(4, 3)
    return Training(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                    torch.Generator().manual_seed(0))


def checkpoints(tmp_path, lr: float = 0.1) -> _shared.Checkpoints:
    data = tmp_path / "train.pt"
    if not data.exists():
        data.write_bytes(b"the input")
    return _shared.Checkpoints("train@custom", 3, validate({"lr": lr}, ["lr"]), [data])


def test_a_checkpoint_restores_the_whole_state_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    saved, run = training(), checkpoints(tmp_path)
    saved.history.append(EpochResult(1, 0.9, 0.8, 0.7, 2.0, 0.1))
    saved.generator.manual_seed(5)
    run.store(saved)
    assert (tmp_path / run.path).parent.parent == tmp_path / ".checkpoints" / "train@custom"
    restored = training()
    checkpoints(tmp_path).restore(restored)
    assert restored.epoch == 1 and restored.history == saved.history
    assert torch.equal(restored.model.weight, saved.model.weight)
    assert torch.equal(restored.generator.get_state(), saved.generator.get_state())
    assert capsys.readouterr().out.startswith("train@custom: resuming from epoch 2 of 3 "
                                              "(checkpoint of ")


def test_other_params_or_inputs_give_another_key_and_clear_removes_every_run(tmp_path,
                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = checkpoints(tmp_path)
    assert checkpoints(tmp_path, lr=0.2).key != first.key
    (tmp_path / "train.pt").write_bytes(b"another input")
    assert checkpoints(tmp_path).key != first.key
    first.store(training())
    checkpoints(tmp_path).store(training())
    checkpoints(tmp_path).clear()
    assert not (tmp_path / ".checkpoints" / "train@custom").exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", "foreign", "mismatched"])
def test_a_corrupt_or_foreign_checkpoint_is_skipped_with_one_warning(tmp_path, monkeypatch,
                                                                     capsys, content):
    monkeypatch.chdir(tmp_path)
    run = checkpoints(tmp_path)
    if content == "foreign":
        save_torch(run.path, {"key": "another run", "training": {}})
    elif content == "mismatched":  # loads the weights, then fails: all must be as before
        model = torch.nn.Linear(4, 3)
        other = Training(model, torch.optim.SGD(model.parameters(), lr=0.1))  # no generator
        save_torch(run.path, {"key": run.key, "training": other.state_dict()})
    else:
        run.path.parent.mkdir(parents=True)
        run.path.write_bytes(content)
    fresh = training()
    before = fresh.model.weight.clone()
    run.restore(fresh)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"warning: {run.path}: unreadable checkpoint")
    assert fresh.epoch == 0 and torch.equal(fresh.model.weight, before)
