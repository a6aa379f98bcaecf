"""Resuming after a kill: a training stage killed with SIGKILL at several moments, then run again,
ends with the outputs of an uninterrupted run, byte for byte, having redone at most the epoch it
was in. Real processes are killed, at awaited events (no sleeps); the run after the kill runs the
script in this interpreter, which spares seconds of imports. The same through the real `dvc repro`
is in tests/test_pipeline.py, on its tiny pipeline."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from fmnist.atomic import save_torch
from tests.processes import Stage, checkpoint, wait_until
from tests.stages.conftest import run_here

ROOT = Path(__file__).resolve().parents[2]
EPOCHS, BATCHES = 4, 8
STAGE = "train@torch"


def command(impl: str) -> list[str]:
    """The train stage's command line from dvc.yaml, run with this interpreter."""
    cmd = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["cmd"]
    words = cmd.replace("${item.impl}", impl).split()
    return [sys.executable, str(ROOT / words[1]), *words[2:]]


GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "t", "GIT_COMMITTER_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})
    assert done.returncode == 0, done.stderr
    return done.stdout


def split(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(n, 1, 28, 28, generator=g),
            "y": torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git workspace whose committed outputs are those of an uninterrupted run."""
    workspace = tmp_path_factory.mktemp("resume")
    shutil.copy(ROOT / ".gitignore", workspace / ".gitignore")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(epochs=EPOCHS, batch_size=16)
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    save_torch(workspace / "data" / "prepared" / "train.pt", split(16 * BATCHES, 0))
    save_torch(workspace / "data" / "prepared" / "val.pt", split(32, 1))
    git(workspace, "init", "-q")
    # a DVC project with a commit, as the stages always run in one (dvclive expects it)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=workspace, check=True)
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "the project")
    done = run_here(command("torch"), workspace)
    assert done.returncode == 0, done.stderr
    assert not (workspace / ".checkpoints").exists()  # removed once the outputs are written
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "an uninterrupted run")
    return workspace


def next_checkpoint(workspace: Path, stage: Stage, after: int = 0) -> tuple[Path, int]:
    """Wait for a checkpoint written after `after` (its st_mtime_ns); its path and mtime."""
    def written() -> tuple[Path, int] | None:
        path = checkpoint(workspace, STAGE)
        try:
            return (path, path.stat().st_mtime_ns) if path and path.stat().st_mtime_ns > after \
                else None
        except FileNotFoundError:  # between the stat calls
            return None
    return wait_until(written, stage)


def mid_epoch(workspace: Path, stage: Stage) -> int:
    """Killed half-way through epoch 3: half of an epoch after checkpoint 2, by the time
    between checkpoints 1 and 2."""
    _, first = next_checkpoint(workspace, stage)
    _, second = next_checkpoint(workspace, stage, first)
    time.sleep((second - first) / 2e9)  # a measured half epoch, not a guess
    stage.kill()
    return 3


def right_after_a_checkpoint(workspace: Path, stage: Stage) -> int:
    next_checkpoint(workspace, stage)
    stage.kill()
    return 2


def during_a_checkpoint_write(workspace: Path, stage: Stage) -> int:
    """Killed after checkpoint 1 and half-way through writing checkpoint 2: what that leaves
    (checkpoints are written under a temporary name, then renamed) is planted beside it, as the
    write takes too little time to be hit by a signal reliably."""
    state, _ = next_checkpoint(workspace, stage)
    stage.kill()
    data = state.read_bytes()
    state.with_name(f".{state.name}.partial").write_bytes(data[: len(data) // 2])
    return 2


@pytest.mark.parametrize("moment", [mid_epoch, right_after_a_checkpoint,
                                    during_a_checkpoint_write], ids=lambda f: f.__name__)
def test_a_killed_stage_resumes_and_ends_as_an_uninterrupted_run(workspace, moment):
    stage = Stage(command("torch"), workspace)
    expected = moment(workspace, stage)  # the epoch that was running, or about to

    done = run_here(command("torch"), workspace)
    assert done.returncode == 0, done.stderr
    resumed = re.search(rf"^{STAGE}: resuming from epoch (\d+) of {EPOCHS} \(checkpoint of ",
                        done.stdout, re.MULTILINE)
    assert resumed, done.stdout
    assert int(resumed[1]) == expected  # no finished epoch redone
    assert f"epoch 1/{EPOCHS}" not in done.stderr
    assert "warning" not in done.stderr
    assert git(workspace, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (workspace / ".checkpoints").exists()


def test_a_corrupt_checkpoint_is_one_warning_and_a_fresh_run(workspace):
    stage = Stage(command("torch"), workspace)
    state, _ = next_checkpoint(workspace, stage)
    stage.kill()
    state.write_bytes(state.read_bytes()[:100])
    done = run_here(command("torch"), workspace)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "unreadable checkpoint skipped" in warnings[0]
    assert "resuming" not in done.stdout
    assert git(workspace, "status", "--porcelain", "--untracked-files=all") == ""


def test_other_params_start_a_new_run_and_its_success_clears_the_stale_checkpoint(workspace):
    stage = Stage(command("torch"), workspace)
    next_checkpoint(workspace, stage)
    stage.kill()
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    (workspace / "params.yaml").write_text(yaml.safe_dump({**params, "epochs": 1}))
    done = run_here(command("torch"), workspace)
    assert done.returncode == 0 and "resuming" not in done.stdout, done.stderr
    assert not (workspace / ".checkpoints").exists()
