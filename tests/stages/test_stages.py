"""Bad input and interruptions, stage by stage: the real command lines of dvc.yaml, run directly
on a tiny subset of the real data. Each case must end in exactly one `error:` line (no
traceback), exit 1 (130 for Ctrl-C), and leave every output of the previous run byte for byte
as it was. The bad-input cases run the scripts in this interpreter (a fresh one spends seconds
importing torch), as does the tiny run before them; one case, the Ctrl-C case and the
rejected mirror run real processes."""

import gzip
import itertools
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from fmnist.atomic import PARTIAL
from tests.conftest import corrupt, edit_params
from tests.stages.conftest import run_here

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")
TINY = {"epochs": 1, "batch_size": 16, "data": {"subset": 120, "timeout": 5},
        "tune": {"trials": 1, "trial_epochs": 1, "trial_samples": 0, "final_epochs": 1,
                 "precision": "fp32", "storage": "sqlite:///studies/tune.db",
                 "tta": "none"}}  # evaluate reads all 10000 test images: one view of each
ORDER = ("fetch", "prepare", "verify_ops", "train@custom", "train@torch", "compare", "tune",
         "evaluate", "report")


def commands() -> dict[str, list[str]]:
    """Each stage's command line from dvc.yaml (matrix expanded), run with this interpreter."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        matrix = stage.get("matrix") or {}
        for values in itertools.product(*matrix.values()):
            cmd = stage["cmd"]
            for key, value in zip(matrix, values, strict=True):
                cmd = cmd.replace(f"${{item.{key}}}", value)
            words = shlex.split(cmd)
            assert words[0] == "python"
            label = name + ("@" + "-".join(values) if values else "")
            out[label] = [sys.executable, str(ROOT / words[1]), *words[2:]]
    return out


COMMANDS = commands()


def run(workspace: Path, stage: str, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run(COMMANDS[stage], cwd=workspace, capture_output=True, text=True,
                          **kwargs)


def snapshot(workspace: Path) -> dict[str, bytes]:
    """Every file's bytes, but the params file, temporary names and checkpoints."""
    return {str(p.relative_to(workspace)): p.read_bytes() for p in workspace.rglob("*")
            if p.is_file() and PARTIAL not in p.name and p.name != "params.yaml"
            and ".checkpoints" not in p.parts}


def set_params(workspace: Path, **changes: object) -> None:
    """Change the workspace's params.yaml; dotted keys reach into groups, None deletes."""
    edit_params(workspace / "params.yaml", **changes)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace after a whole tiny run of every stage, in dvc.yaml's order."""
    workspace = tmp_path_factory.mktemp("finished")
    shutil.copy(ROOT / "dvc.yaml", workspace / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, value in TINY.items():
        params[key] = {**params[key], **value} if isinstance(value, dict) else value
    params["data"]["mirrors"] = [str(DEBIAN_DATA)]
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ORDER:
        done = run_in_process(workspace, stage)
        assert done.returncode == 0, f"{stage}:\n{done.stderr}"
    return workspace


def run_in_process(workspace: Path, stage: str) -> subprocess.CompletedProcess:
    return run_here(COMMANDS[stage], workspace)


def fails_cleanly(workspace: Path, stage: str, message: str,
                  runner: Callable[[Path, str], subprocess.CompletedProcess] = run_in_process
                  ) -> str:
    """Run `stage`: exit 1, one `error:` line containing `message`, outputs untouched."""
    before = snapshot(workspace)
    done = runner(workspace, stage)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1, done.stderr
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(workspace) == before, "a failed stage changed files"
    return errors[0]


def params(**changes: object) -> Callable[[Path], None]:
    return lambda ws: set_params(ws, **changes)


def write(relative: str, data: bytes | Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """Replace a file's bytes (or transform them)."""
    def mutate(ws: Path) -> None:
        path = ws / relative
        path.write_bytes(data(path.read_bytes()) if callable(data) else data)
    return mutate


def split(relative: str, **change: torch.Tensor) -> Callable[[Path], None]:
    """Replace a prepared split by a well-formed torch file with foreign content."""
    def mutate(ws: Path) -> None:
        saved = torch.load(ws / relative, weights_only=True)
        torch.save({**saved, **change}, ws / relative)
    return mutate


def delete(relative: str) -> Callable[[Path], None]:
    return lambda ws: (ws / relative).unlink()


def bad_mirror(ws: Path) -> None:
    (ws / "broken").mkdir()
    (ws / "broken" / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    set_params(ws, **{"data.mirrors": [str(ws / "broken"), str(ws / "nowhere")]})


TRAIN = "data/prepared/train.pt"
CASES = [
    # params: types, ranges and relations, checked before anything is read or written
    ("train@custom", params(lr=-1), "lr: must be greater than 0, got -1"),
    ("train@torch", params(epochs=0), "epochs: must be greater than or equal to 1, got 0"),
    ("prepare", params(batch_size=0), "batch_size: must be greater than or equal to 1"),
    ("train@custom", params(momentum=1.5), "momentum: must be less than 1"),
    ("prepare", params(seed="abc"), "seed: must be a valid integer"),
    ("prepare", params(**{"data.subset": -3}), "data.subset: must be greater than or equal to 0"),
    ("prepare", params(**{"data.val_fraction": 0}), "data.val_fraction: must be greater than 0"),
    ("prepare", params(**{"data.subset": 2}), "leaves an empty validation split"),
    ("fetch", params(**{"data.timeout": "abc"}), "data.timeout: must be a valid number"),
    ("fetch", params(**{"data.timeout": []}), "data.timeout: must be a valid number"),
    ("fetch", params(**{"data.timeout": -1}), "data.timeout: must be greater than 0"),
    ("fetch", params(**{"data.timeout": 0}), "data.timeout: must be greater than 0"),
    ("tune", params(**{"tune.trials": 0}), "tune.trials: must be greater than or equal to 1"),
    ("tune", params(**{"tune.trials": -2}), "tune.trials: must be greater than or equal to 1"),
    ("tune", params(**{"tune.final_epochs": 0}), "tune.final_epochs: must be greater than or"),
    ("tune", params(**{"tune.trial_epochs": 0}), "tune.trial_epochs: must be greater than or"),
    ("tune", params(**{"tune.shift": -1}), "tune.shift: must be greater than or equal to 0"),
    ("tune", params(**{"tune.precision": "fp16"}), "tune.precision: must be 'auto', 'bf16'"),
    ("train@torch", params(device="tpu"), "device: device must be one of auto, cpu, cuda"),
    ("train@custom", params(lr=None), "lr: missing"),
    ("train@custom", write("params.yaml", b"lr: [0.1,\n"), "not valid YAML at line 2"),
    ("train@custom", params(lr=-1, epochs=0, seed=True), "lr: must be greater than 0, got -1; "
                                                          "epochs: must be greater"),
    # a misspelt key is no stage's: refused by every one, naming the key it resembles
    *((stage, params(epochz=2), "params.yaml: unknown key 'epochz' (did you mean 'epochs'?)")
      for stage in ORDER),
    ("train@custom", params(**{"tune.trails": 3}),
     "params.yaml: unknown key 'tune.trails' (did you mean 'tune.trials'?)"),
    # a learning rate far too high: the loss grows to ~1e8 while staying finite
    ("train@custom", params(lr=100), "grew past 10x its starting value"),
    # corrupt, foreign or missing files, found before any work
    ("train@custom", write(TRAIN, b"garbage"), f"{TRAIN}: not produced by this pipeline or "
                                               "corrupt: run `dvc repro` to make it"),
    ("verify_ops", write(TRAIN, lambda b: b[: len(b) // 2]), "not produced by this pipeline"),
    ("train@torch", split(TRAIN, x=torch.rand(96, 3, 28, 28)), "images 'x' must be float32 [N, 1,"),
    ("tune", split(TRAIN, x=torch.rand(96, 1, 32, 32)), "got torch.float32 [96, 1, 32, 32]"),
    ("train@custom", split(TRAIN, x=torch.rand(96, 1, 28, 28, dtype=torch.float64)),
     "got torch.float64"),
    ("verify_ops", split(TRAIN, x=torch.zeros(96, 1, 28, 28, dtype=torch.uint8)),
     "got torch.uint8"),
    ("train@custom", split(TRAIN, x=torch.zeros(0, 1, 28, 28), y=torch.zeros(0, 10)),
     "with N >= 1"),
    ("train@custom", split(TRAIN, x=torch.full((96, 1, 28, 28), float("nan"))),
     "images 'x' hold NaN or infinite values"),
    ("train@torch", split(TRAIN, y=torch.zeros(96, 10)), "labels 'y' must be one-hot rows"),
    ("evaluate", delete("models/tuned.pt"), "models/tuned.pt: not found: run `dvc repro`"),
    ("evaluate", write("models/custom.pt", b"\x80\x02garbage"), "models/custom.pt: not produced"),
    ("evaluate", write("models/tuned.pt", lambda _: (ROOT / "dvc.yaml").read_bytes()),
     "models/tuned.pt: not produced by this pipeline or corrupt: run `dvc repro` to make it"),
    ("train@custom", delete("data/prepared/val.pt"), "data/prepared/val.pt: not found: run "
                                                      "`dvc repro` to make it"),
    ("prepare", write("data/raw/train-images-idx3-ubyte.gz", lambda b: corrupt(b, "deflate")),
     "train-images-idx3-ubyte.gz: corrupt gzip"),
    ("prepare", write("data/raw/t10k-labels-idx1-ubyte.gz", lambda b: corrupt(b, "crc")),
     "t10k-labels-idx1-ubyte.gz: corrupt gzip"),
    ("fetch", bad_mirror, "broken: not gzip"),
    ("compare", delete("results/live/torch/plots/metrics/val_loss.tsv"),
     "val_loss.tsv: not found: run `dvc repro` to make it"),
    ("report", write("results/test.json", b"{not json"), "results/test.json: not valid JSON"),
]


@pytest.mark.parametrize(("stage", "mutate", "message"), CASES,
                         ids=[f"{i:02d}-{case[0]}" for i, case in enumerate(CASES)])
def test_bad_input_is_one_line_and_touches_nothing(workspace, stage, mutate, message):
    mutate(workspace)
    fails_cleanly(workspace, stage, message)


def test_a_stage_run_as_a_program_fails_as_it_does_in_process(workspace):
    """The cases above run the scripts in this interpreter; a real one says the same."""
    stage, mutate, message = CASES[0]
    mutate(workspace)
    here = fails_cleanly(workspace, stage, message)
    assert fails_cleanly(workspace, stage, message, runner=run) == here


def test_a_rejected_mirror_is_one_warning_and_the_fetch_goes_on(workspace):
    (workspace / "broken").mkdir()
    (workspace / "broken" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"wrong"))
    set_params(workspace, **{"data.mirrors": [str(workspace / "broken"), str(DEBIAN_DATA)]})
    done = run(workspace, "fetch")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4  # every file of the first mirror: one missing, one wrong
    assert any("broken: checksum mismatch" in w and f"(used {DEBIAN_DATA})" in w
               for w in warnings)


def wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def as_in_a_terminal() -> None:
    """A process started in the background inherits SIGINT ignored; Ctrl-C in a terminal is not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_is_one_line_exit_130_and_keeps_the_checkpoint_to_resume_from(workspace):
    set_params(workspace, epochs=50)
    before = snapshot(workspace)
    process = subprocess.Popen(COMMANDS["train@custom"], cwd=workspace, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=as_in_a_terminal)
    checkpoints = workspace / ".checkpoints" / "train@custom"
    wait_for(checkpoints)  # an epoch is done
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert [line for line in stderr.splitlines() if line.startswith("error:")] == [
        "error: interrupted (resume with dvc repro)"]
    assert "Traceback" not in stderr
    assert snapshot(workspace) == before  # no output touched
    assert list(checkpoints.glob("*/state.pt"))
