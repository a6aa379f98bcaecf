"""Integration: the real `dvc` and `git` on a tiny configuration of the real pipeline."""

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests import browser
from tests.processes import Stage, checkpoint, wait_until

from _shared import read_json

ROOT = Path(__file__).resolve().parents[1]
DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")
# evaluate reads all 10000 test images, in each of the three runs here: one view of each (tta).
# Three epochs give the kill below two epochs' time to land in train@custom.
TINY = {"data": {"subset": 600}, "epochs": 3, "batch_size": 32,
        "tune": {"trials": 2, "trial_epochs": 1, "trial_samples": 200, "final_epochs": 1,
                 "tta": "none"}}
TIMEOUT = 600  # seconds for any one command; the slowest, a tiny `dvc repro`, takes under a minute

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not DEBIAN_DATA.is_dir(),
                       reason="needs Debian's dataset-fashion-mnist (make test installs it)"),
]


def merge(base: dict, override: dict) -> dict:
    """Deep-merge `override` into a copy of `base`."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) else value
    return out


def leaves(tree: object) -> list[object]:
    """The values at the leaves of `dvc metrics show --json`'s nested dicts (numbers expected)."""
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in leaves(value)]
    return [tree]


def keys(tree: object) -> list[str]:
    """Every key at any depth of nested dicts."""
    if isinstance(tree, dict):
        return [*tree, *(k for value in tree.values() for k in keys(value))]
    return []


def environment() -> dict[str, str]:
    """A git identity of the test's own; bytecode written as on users' machines."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "DVC_NO_ANALYTICS": "1",
           # the stages' `python` and `dvc` must be this interpreter's, whatever PATH says
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def attempt(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run a command in `repo`, with `env` added to its environment; the caller judges. A hang
    fails the test: the command and everything it started are killed after TIMEOUT seconds."""
    process = subprocess.Popen(args, cwd=repo, env={**environment(), **env}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # dvc and the stages it runs, which hold the pipes
        out, err = process.communicate()
        pytest.fail(f"{' '.join(args)} still running after {TIMEOUT} s:\n{out[-2000:]}\n"
                    f"{err[-2000:]}")
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def run(repo: Path, *args: str, **env: str) -> str:
    """Run a command in `repo`; fail the test on error."""
    done = attempt(repo, *args, **env)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh git+DVC repository holding the pipeline with tiny params, after `dvc repro`."""
    repo = tmp_path_factory.mktemp("pipeline")
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("stages", "src"):
        shutil.copytree(ROOT / folder, repo / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY)
    params["data"]["mirrors"] = [str(DEBIAN_DATA)]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, "dvc", "init", "-q")
    for folder in ("html", "plots"):  # the offline plots page and our plot templates
        shutil.copytree(ROOT / ".dvc" / folder, repo / ".dvc" / folder)
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")  # which sets the page
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", "pipeline")
    run(repo, "dvc", "repro")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", "first results")
    return repo


def test_fetch_copies_verified_raw_files(repo):
    raw = sorted(p.name for p in (repo / "data" / "raw").iterdir())
    assert raw == sorted(p.name for p in DEBIAN_DATA.glob("*.gz"))


def test_prepared_tensors(repo):
    counts = read_json(repo / "results" / "prepare.json")
    assert counts["train"]["samples"] == 480 and counts["val"]["samples"] == 120
    assert counts["test"]["samples"] == 10000  # the whole test file, whatever data.subset says
    for split in ("train", "val", "test"):
        data = torch.load(repo / "data" / "prepared" / f"{split}.pt", weights_only=True)
        x, y = data["x"], data["y"]
        assert x.shape == (counts[split]["samples"], 1, 28, 28) and x.dtype == torch.float32
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 and float(x.max()) > 0.5
        assert y.shape == (len(x), 10)
        assert torch.equal(y.sum(dim=1), torch.ones(len(x)))
        assert set(y.unique().tolist()) == {0.0, 1.0}
        assert sum(counts[split]["per_class"].values()) == len(x)
    for figure in ("class_samples.png", "batch_samples.png"):
        assert (repo / "plots" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_stage_wrote_its_outputs(repo):
    for name in ("prepare", "verify_ops", "train_custom", "train_torch", "compare", "tune",
                 "test"):
        assert (repo / "results" / f"{name}.json").is_file(), name
    for name in ("commutativity", "losses", "tune_history", "stats"):
        assert (repo / "plots" / f"{name}.png").is_file(), name
    for name in ("custom", "torch", "tuned"):
        assert (repo / "models" / f"{name}.pt").is_file(), name
    assert read_json(repo / "results" / "train_custom.json")["epochs"] == 3
    tune = read_json(repo / "results" / "tune.json")
    assert tune["trials_run"] == 2 and tune["final_epochs"] == 1
    test = read_json(repo / "results" / "test.json")["tuned"]
    assert 0.0 <= test["accuracy"] <= 1.0 and len(test["per_class"]) == 10
    assert len(read_json(repo / "results" / "confusion.json")) == 10000
    report = (repo / "reports" / "report.md").read_text()
    assert f"{test['accuracy']:.4f}" in report and test["hardest_class"]["name"] in report
    assert read_json(repo / "timings" / "train_custom.json")["seconds_per_epoch"]


def test_repro_again_is_a_no_op(repo):
    out = run(repo, "dvc", "status")
    assert "up to date" in out


def test_metrics_show_holds_only_headline_numbers(repo):
    shown = json.loads(run(repo, "dvc", "metrics", "show", "--json"))
    numbers = list(leaves(shown))
    assert 5 <= len(numbers) <= 15 and all(isinstance(n, int | float) for n in numbers)
    names = " ".join(str(key) for key in keys(shown))
    assert "seconds" not in names and "per_class" not in names


def clean(repo: Path) -> None:
    """Nothing for git or DVC to report: no output changed, bytecode is not code."""
    assert run(repo, "git", "status", "--porcelain") == ""
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status")


def test_a_killed_repro_resumes_to_the_same_bytes_and_leaves_git_and_dvc_clean(repo):
    """Same params, same committed files: train@custom forced again, with the bytecode of `make
    test` beside the code, killed after a checkpoint and resumed by `dvc repro`. (fetch and
    prepare are rebuilt to the same bytes in the fresh clone below, or verify_ops and tune would
    rerun there; verify_ops's determinism is tested in tests/analysis.)"""
    compiled = attempt(repo, sys.executable, "-m", "compileall", "-q", "src", "stages")
    # after `make test` users have __pycache__ everywhere: not a change of code, as clean() says
    assert compiled.returncode == 0 and list((repo / "src").rglob("__pycache__"))
    stage = Stage(["dvc", "repro", "-f", "-s", "train@custom"], repo, environment())
    wait_until(lambda: checkpoint(repo, "train@custom"), stage)
    stage.kill()  # dvc and the stage it runs
    out = run(repo, "dvc", "repro")
    assert re.search(r"train@custom: resuming from epoch [23] of 3", out), out
    assert set(re.findall(r"Running stage '([^']+)'", out)) == {"train@custom"}
    clean(repo)
    assert not (repo / ".checkpoints" / "train@custom").exists()


def test_a_bad_param_under_dvc_repro_is_our_one_line_and_dvc_s(repo, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy, symlinks=True)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["lr"] = -1
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = attempt(copy, "dvc", "repro")
    ours = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode != 0
    assert ours == ["error: params.yaml: lr: must be greater than 0, got -1"], done.stderr
    assert "ERROR: failed to reproduce 'train@" in done.stderr
    assert "Traceback" not in done.stderr


GRID = ("0.02", "0.05")  # lr; params.yaml has 0.01


@pytest.fixture(scope="module")
def clone(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of `repo`: models and small outputs committed, no DVC cache."""
    clone = tmp_path_factory.mktemp("clone") / "repo"
    run(clone.parent, "git", "clone", "-q", str(repo), str(clone))
    return clone


@pytest.fixture(scope="module")
def grid(clone: Path) -> dict[str, str]:
    """An lr grid run in the clone as a user would, {lr: what its run printed}: lr=0.02 in a
    temporary copy (`--temp`, where a queued run also starts), then lr=0.05 in the workspace.
    Not DVC's queue with two workers: its celery workers hung once in CI with a task left queued
    (treeverse/dvc#10562)."""
    return {"0.02": run(clone, "dvc", "exp", "run", "--temp", "-S", "lr=0.02"),
            "0.05": run(clone, "dvc", "exp", "run", "-S", "lr=0.05")}


def experiments(clone: Path) -> dict[str, str]:
    """lr -> name of each finished experiment of the grid, from `dvc exp show`."""
    table = csv.DictReader(io.StringIO(run(clone, "dvc", "exp", "show", "--csv")))
    return {row["lr"]: row["Experiment"] for row in table
            if row.get("Experiment") and row["lr"] in GRID and row["custom.test_acc"]}


def test_a_fresh_clone_s_grid_reruns_only_what_it_must(clone, grid):
    """The temporary copy rebuilds the data, which the clone has no DVC cache of, and what lr
    changes; the workspace run takes the data from the cache the first run filled. verify_ops and
    tune are skipped in both, their committed outputs being up to date."""
    assert set(experiments(clone)) == set(GRID)
    trained = {"train@custom", "train@torch", "compare", "evaluate", "report"}
    ran = {lr: set(re.findall(r"Running stage '([^']+)'", log)) for lr, log in grid.items()}
    assert ran == {"0.02": {"fetch", "prepare", *trained}, "0.05": trained}, ran


@pytest.fixture(scope="module")
def page(clone: Path, grid: dict[str, str]) -> Path:
    """`dvc plots diff HEAD` of the clone's workspace: its index.html."""
    run(clone, "dvc", "plots", "diff", "HEAD", "-o", "plots_html")
    return clone / "plots_html" / "index.html"


def test_an_experiment_s_params_metrics_and_plots_diff(clone, page):
    assert "0.05" in run(clone, "dvc", "params", "diff")
    changed = json.loads(run(clone, "dvc", "metrics", "diff", "--json"))
    assert "custom.val_loss" in json.dumps(changed)
    html = page.read_text()
    assert "train_loss" in html and "val_loss" in html
    logged = (clone / "results/live/custom/plots/metrics/train_loss.tsv").read_text().split()
    assert logged[-1] in html, "the workspace's loss values must be in the rendered plot data"


@pytest.mark.skipif(not Path(browser.CHROMIUM).exists(), reason="needs Debian's chromium")
def test_plots_diff_renders_every_plot_offline(page):
    divs = browser.plot_divs(page.read_text(encoding="utf-8"))
    assert set(divs) == {"losses", "loss_gap", "val_accuracy", "confusion"}
    with browser.NetworkTrap() as trap:
        dom = browser.parse_dom(browser.render_dom(page, proxy=trap.proxy))
    assert dom.errors == [] and trap.page_requests() == []
    assert all(dom.divs[d]["status"] == "ok" and dom.divs[d]["charts"] for d in divs)
