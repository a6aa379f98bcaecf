"""The verify_ops checks, the commutativity experiment and the stage's exit codes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fmnist import verify
from fmnist.dataset import Dataset
from fmnist.errors import VerificationError
from fmnist.io import save_torch

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "stages" / "verify_ops.py"


def tiny_split(path: Path, n: int = 12) -> Path:
    """A prepared-format train.pt: float32 [n, 1, 28, 28] in [0, 1] and one-hot [n, 10]."""
    x = torch.rand(n, 1, 28, 28)
    y = torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()
    save_torch(path, {"x": x, "y": y})
    return path


def stage_args(tmp_path: Path) -> list[str]:
    """Command-line arguments for the stage on a tiny split, all outputs under tmp_path."""
    (tmp_path / "params.yaml").write_text("seed: 3\nbatch_size: 4\n", encoding="utf-8")
    return ["--data", str(tiny_split(tmp_path / "train.pt")), "--params",
            str(tmp_path / "params.yaml"), "--metrics", str(tmp_path / "metrics.json"),
            "--figure", str(tmp_path / "commutativity.png")]


def test_pooling_and_relu_commute_exactly_convolution_does_not():
    numbers = verify.commutativity_numbers(verify.commutativity_experiment(seed=42))
    assert numbers["input_shape"] == [1, 100, 100]
    assert numbers["pool"]["max_abs_diff"] == 0.0
    assert numbers["pool"]["output_shape"] == [1, 49, 49]
    assert numbers["conv"]["max_abs_diff"] > 0.0
    assert numbers["conv"]["fraction_differing"] > 0.5


def test_experiment_is_seeded():
    a, b = verify.commutativity_experiment(7), verify.commutativity_experiment(7)
    assert torch.equal(a["input"], b["input"])
    assert torch.equal(a["conv"]["relu_then_op"], b["conv"]["relu_then_op"])
    x = a["input"]
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.9 and x.max() > 0.9


def test_explanation_covers_both_cases():
    text = verify.COMMUTATIVITY_EXPLANATION
    assert "monotone" in text and "pool first" in text and "sums" in text


def test_checks_on_real_shaped_batches_pass_and_cover_every_layer():
    dataset = Dataset(torch.rand(10, 1, 28, 28), torch.eye(10), batch_size=5)
    metrics = verify.verify_against_torch(dataset, batches=2, seed=0)
    assert metrics["passed"] and metrics["batches"] == 2
    assert set(metrics["layers"]) == {"conv1", "pool1", "pool1_after_relu", "relu1", "conv2",
                                      "pool2", "relu2", "conv3", "network"}
    conv2 = metrics["layers"]["conv2"]
    assert conv2["input_shape"] == ["N", 32, 12, 12]
    assert conv2["forward"] < verify.FORWARD_TOLERANCE
    assert {"grad_input", "grad_weight", "grad_bias"} <= conv2.keys()
    assert metrics["layers"]["pool1_after_relu"]["grad_input"] == 0.0


def test_check_forward_names_the_failing_layer():
    metrics = {"tolerance": 1e-5, "layers": {"conv1": {"forward": 2e-5}, "pool1": {"forward": 0.0}}}
    with pytest.raises(VerificationError, match=r"conv1 \(2e-05\)"):
        verify.check_forward(metrics)


def test_stage_writes_metrics_and_figure(tmp_path):
    result = subprocess.run([sys.executable, str(STAGE), *stage_args(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["passed"] and metrics["batch_size"] == 4
    assert metrics["commutativity"]["pool"]["max_abs_diff"] == 0.0
    assert (tmp_path / "commutativity.png").stat().st_size > 10_000


def test_stage_fails_on_missing_data(tmp_path):
    args = stage_args(tmp_path)
    args[1] = str(tmp_path / "absent.pt")
    result = subprocess.run([sys.executable, str(STAGE), *args],
                            capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error:") and "absent.pt" in result.stderr


def test_stage_fails_after_writing_metrics_when_ops_are_off(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("verify_ops_stage", STAGE)
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    broken = verify.ops.ReLU.forward
    monkeypatch.setattr(verify.ops.ReLU, "forward", lambda self, x: broken(self, x) + 1e-3)
    monkeypatch.setattr(sys, "argv", ["verify_ops.py", *stage_args(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        stage.main()
    assert exit_info.value.code == 1
    assert "relu1" in capsys.readouterr().err
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert not metrics["passed"]
