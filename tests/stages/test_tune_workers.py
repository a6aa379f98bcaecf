"""Several tuning workers on one real PostgreSQL study: the tune stage and two `tune_join.py`
workers at once, then a worker killed in the middle of a trial."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from fmnist.atomic import partial_path
from tests.stages.test_stages import COMMANDS, DEBIAN_DATA, ROOT, run, set_params

BUDGET = 6
JOIN = [sys.executable, str(ROOT / "stages" / "tune_join.py"), "--params", "params.yaml",
        "--train", "data/prepared/train.pt", "--val", "data/prepared/val.pt"]

pytestmark = pytest.mark.skipif(not DEBIAN_DATA.is_dir(), reason="needs dataset-fashion-mnist")


@pytest.fixture
def workspace(tmp_path: Path, postgres_url: str) -> Path:
    """Prepared data of a small real subset, and params whose study lives on PostgreSQL."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(mirrors=[str(DEBIAN_DATA)], subset=400)
    params["tune"].update(trials=BUDGET, trial_epochs=2, trial_samples=240, final_epochs=1,
                          precision="fp32", storage=postgres_url, heartbeat=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("fetch", "prepare"):
        assert run(tmp_path, stage).returncode == 0
    return tmp_path


def start(workspace: Path, command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=workspace, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def the_study(url: str) -> optuna.Study:
    (name,) = optuna.get_all_study_names(url)
    return optuna.load_study(study_name=name, storage=url)


def check_the_study(url: str) -> list[optuna.trial.FrozenTrial]:
    """The budget met exactly, nothing left running, no sampled point proposed twice."""
    trials = the_study(url).trials
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == BUDGET  # the advisory lock: no overshoot on PostgreSQL
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    proposed = [tuple(sorted(t.params.items())) for t in trials
                if t.params and "failed_trial" not in t.system_attrs]  # retries repeat by design
    assert len(proposed) == len(set(proposed))
    return trials


def test_the_stage_and_two_workers_share_one_budget(workspace, postgres_url):
    joiners = [start(workspace, [*JOIN, "--worker", str(w)]) for w in (1, 2)]
    time.sleep(2)  # let the joiners open the study first, so that every worker gets trials
    stage = start(workspace, COMMANDS["tune"])
    outputs = [p.communicate(timeout=900) for p in (*joiners, stage)]
    assert [p.returncode for p in (*joiners, stage)] == [0, 0, 0], outputs
    trials = check_the_study(postgres_url)
    workers = {t.user_attrs["worker"] for t in trials if t.state != TrialState.FAIL}
    assert len(workers) >= 2, workers
    assert sum("retraining" in out for out, _ in outputs) == 1  # once, by the stage
    log = workspace / "results" / "live" / "tuned" / "plots" / "metrics" / "val_loss.tsv"
    assert len(log.read_text().splitlines()) == 1 + 1  # header and the one final epoch
    assert yaml.safe_load((workspace / "results" / "tune.json").read_text())["trials_run"] == BUDGET


def test_a_killed_worker_s_trial_is_failed_by_its_heartbeat_and_retried(workspace, postgres_url):
    set_params(workspace, **{"tune.trial_epochs": 4, "tune.trial_samples": 400})
    joiner = start(workspace, [*JOIN, "--worker", "1"])
    deadline = time.monotonic() + 300
    while True:  # wait until the joiner is inside a trial
        assert time.monotonic() < deadline and joiner.poll() is None
        names = optuna.get_all_study_names(postgres_url)
        running = names and [t for t in the_study(postgres_url).trials
                             if t.state == TrialState.RUNNING]
        if running:
            break
        time.sleep(0.2)
    joiner.kill()  # SIGKILL in the middle of a trial: no chance to report anything
    joiner.wait()
    stage = start(workspace, COMMANDS["tune"])
    out, err = stage.communicate(timeout=900)
    assert stage.returncode == 0, err
    trials = check_the_study(postgres_url)
    killed = [t for t in trials if t.number == running[0].number][0]
    assert killed.state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].params == killed.params
    assert not partial_path(workspace / "models" / "tuned.pt").exists()
