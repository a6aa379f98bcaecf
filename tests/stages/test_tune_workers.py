"""An extra worker (`tune_join.py`) and the tune stage on one study: the joiner's trials count in
the stage's budget and summary, and only the stage writes outputs. (Several workers at once, and
a killed one, are tested on the package with a cheap objective: tests/tune/test_storage.py.)"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.stages.conftest import run_here
from tests.stages.test_stages import COMMANDS, DEBIAN_DATA, ROOT, snapshot

JOIN = [sys.executable, str(ROOT / "stages" / "tune_join.py"), "--params", "params.yaml",
        "--train", "data/prepared/train.pt", "--val", "data/prepared/val.pt"]

pytestmark = pytest.mark.skipif(not DEBIAN_DATA.is_dir(), reason="needs dataset-fashion-mnist")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Prepared data of a small real subset, and tiny params whose study lives in SQLite
    (fetched and prepared in this interpreter, where the tune stage runs too, sparing a torch
    import; the joiner is a real second process on the same study)."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(mirrors=[str(DEBIAN_DATA)], subset=200)
    params["tune"].update(trials=3, trial_epochs=1, trial_samples=64, final_epochs=1,
                          precision="fp32", storage="sqlite:///studies/tune.db")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("fetch", "prepare"):
        done = run_here(COMMANDS[stage], tmp_path)
        assert done.returncode == 0, done.stderr
    return tmp_path


def test_a_joiner_s_trials_count_in_the_stage_s_budget_and_only_the_stage_writes(workspace):
    before = snapshot(workspace)
    joiner = subprocess.run([*JOIN, "--worker", "5"], cwd=workspace, capture_output=True,
                            text=True)
    assert joiner.returncode == 0, joiner.stderr
    assert "worker 5: ran 3 trials" in joiner.stdout
    assert set(snapshot(workspace)) - set(before) == {"studies/tune.db"}  # it wrote no output
    stage = run_here(COMMANDS["tune"], workspace)
    assert stage.returncode == 0, stage.stderr
    # the budget is spent: the stage runs no trial (its baseline waits for a raised budget)
    assert "(worker 0)" not in stage.stdout and stage.stdout.count("retraining") == 1
    details = yaml.safe_load((workspace / "results" / "tune.json").read_text())
    assert details["trials_run"] == 3 and details["trials_per_worker"] == {"5": 3}
    assert (workspace / "models" / "tuned.pt").is_file()
