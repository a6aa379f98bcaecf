"""The docs cannot go stale: their numbers are written from the committed files or named here.

tools/docs/generate.py writes each measured number into a `<!-- generated:NAME -->` block from
metrics/, results/, benchmarks/results/ and docs/measured.json (`make docs` also re-runs the
`exp show` sample). Outside those blocks, prose may hold only the constants listed below.
"""

import importlib.util
import json
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest
import yaml

from fmnist.analysis.verify import FORWARD_TOLERANCE
from fmnist.data.classes import TRAIN_SAMPLES

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SPEC = importlib.util.spec_from_file_location("generate", ROOT / "tools" / "docs" / "generate.py")
generate = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(generate)

BLOCK = re.compile(r"<!-- generated:([\w-]+) -->\n(.*?)<!-- end:\1 -->", re.S)
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.]*\w)")

# Numbers prose may state outside generated blocks: each a definition, not a measurement.
CONSTANTS = {
    "0": "exit status, worker or trial number", "1": "exit status", "2": "the noise band's digits",
    "3": "heartbeats before a trial counts as dead", "4": "WRN-40-4", "5": "DVC's decimals",
    "9": "ResNet-9, nine stages in the DAG", "10": "the storage timeout in seconds",
    "20": "the 80/20 split", "80": "the 80/20 split", "40": "WRN-40-4", "120": "terminal width",
    "130": "the shell's status for Ctrl-C", "256": "SHA-256", "512": "AVX-512",
    "3.10": "requires-python", "42": "params.yaml seed", "10000": "test images",
    str(TRAIN_SAMPLES): "training images", "1e-5": "the forward tolerance",
    "1e-7": "float32 rounding", "1e-3": "TF32's error",
    "0.950": "the project's target accuracy", "0.002": "the seeds' spread, read as noise",
    # published figures (the Fashion-MNIST benchmark table), not ours
    "0.934": "2 Conv + pooling + BN", "0.947": "small CNN, shortcuts, erasing",
    "0.967": "WRN-40-4", "0.835": "humans",
}


def prose(text: str) -> str:
    """`text` without generated blocks, code blocks, inline code and link targets."""
    text = BLOCK.sub("", text)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 150


def test_generated_blocks_equal_what_the_committed_files_make():
    stale = [str(path.relative_to(ROOT)) for path, text in generate.render(ROOT).items()
             if path.read_text(encoding="utf-8") != text]
    assert stale == [], f"run `python tools/docs/generate.py`: {stale}"


def test_the_results_table_reads_the_metrics(tmp_path):
    """A changed metric changes the table (so the check above compares against metrics/)."""
    for name in ("metrics", "results", "benchmarks", "docs"):
        shutil.copytree(ROOT / name, tmp_path / name)
    before = generate.results_table(tmp_path)
    metrics = json.loads((tmp_path / "metrics" / "test.json").read_text())
    metrics["tuned"]["test_acc"], metrics["torch"]["test_acc"] = 0.1234, 0.5678
    (tmp_path / "metrics" / "test.json").write_text(json.dumps(metrics))
    after = generate.results_table(tmp_path)
    assert "**0.1234**" in after and "| 0.5678 |" in after
    assert [row for row in after.splitlines() if "our ops" in row] == [
        row for row in before.splitlines() if "our ops" in row]


def test_every_block_has_its_maker_and_every_maker_its_block():
    found = {name: path.relative_to(ROOT).as_posix() for path in DOCS
             for name, _ in BLOCK.findall(path.read_text(encoding="utf-8"))}
    made = {name: file for name, (file, _) in generate.FAST.items()} | generate.SLOW
    assert found == made


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_prose_states_no_number_that_is_not_generated(path):
    unknown = sorted(set(NUMBER.findall(prose(path.read_text(encoding="utf-8")))) - set(CONSTANTS))
    assert unknown == [], (f"{path.name}: numbers outside generated blocks: {unknown}; write "
                           "them from a committed file in tools/docs/generate.py")


def test_the_constants_are_the_code_s():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params["seed"] == 42
    assert float("1e-5") == FORWARD_TOLERANCE
    assert '">=3.10"' in (ROOT / "pyproject.toml").read_text()


def test_the_exp_show_sample_names_a_commit_of_this_repository():
    text = (ROOT / generate.SLOW["exp-show"]).read_text(encoding="utf-8")
    body = dict(BLOCK.findall(text))["exp-show"]
    commit = re.search(r"on commit `([0-9a-f]{12})`", body)
    assert commit, body
    assert "custom.val_loss" in body and "torch.test_acc" in body and "lr" in body
    known = subprocess.run(["git", "cat-file", "-e", f"{commit[1]}^{{commit}}"], cwd=ROOT,
                           capture_output=True)
    if known.returncode != 0 and not _shallow():
        pytest.fail(f"{commit[1]} is not a commit of this repository")


def _shallow() -> bool:
    done = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT,
                          capture_output=True, text=True)
    return done.stdout.strip() != "false"


def search_run(baseline: list[float], winner: list[float]) -> dict:
    """A benchmarks/results/search_full_length.json with these per-seed validation accuracies."""
    def row(runs: list[float], params: dict, loss: float, rank: int) -> dict:
        spread = statistics.stdev(runs)
        return {"params": params, "search_val_loss": loss, "search_rank": rank,
                "val_accuracy": {"mean": statistics.mean(runs), "std": spread, "runs": runs}}
    base = {"lr": 0.1, "erase": 0.5, "width": 16}
    return {"setup": {"trials": 12, "trial_epochs": 3, "trial_samples": 12000,
                      "search_minutes": 6.0, "epochs": 40, "seeds": [42, 43], "tta": "shift",
                      "minutes_per_run": 16.0},
            "full_length": {"trial 0": row(baseline, base, 0.47, 4),
                            "trial 6": row(winner, {**base, "erase": 0.1}, 0.40, 1)}}


@pytest.mark.parametrize(("winner", "verdict"), [
    ([0.9600, 0.9602], "beats the baseline: +0.0019, against a noise band of 0.0006 (twice "
                       "the largest spread between seeds). The search earns its minutes here."),
    ([0.9585, 0.9583], "stays within the noise: +0.0002, against a noise band of 0.0006"),
    ([0.9560, 0.9562], "falls behind the baseline: -0.0021, against a noise band of 0.0006")])
def test_the_search_verdict_follows_the_numbers(tmp_path, winner, verdict):
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "search_full_length.json").write_text(
        json.dumps(search_run([0.9580, 0.9584], winner)))
    text = generate.search_table(tmp_path)
    assert verdict in text
    assert "| trial 6 | erase 0.1 | 0.4000 (1) |" in text
    assert "about 15 epochs of the runs below" in text  # 6 min at 16 / 40 min an epoch


def test_a_pruned_trial_shows_as_pruned_not_as_a_rank(tmp_path):
    run = search_run([0.9580, 0.9584], [0.9600, 0.9602])
    run["full_length"]["trial 0"]["search_rank"] = None  # stopped early by the pruner
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "search_full_length.json").write_text(json.dumps(run))
    assert "| trial 0 | (the baseline) | 0.4700 (pruned) |" in generate.search_table(tmp_path)


def full_length_row(runs: list[float], changes: dict, epochs: int, took: float,
                    run: int = 1) -> dict:
    """One variant of a benchmarks/results/full_length.json, timed in invocation `run`."""
    return {"changes": changes, "epochs": epochs, "minutes_per_run": took, "run": run,
            "val_accuracy": {"mean": statistics.mean(runs), "std": statistics.stdev(runs),
                             "runs": runs}}


def full_length_run(baseline: list[float], wide: list[float], minutes: float) -> dict:
    """A benchmarks/results/full_length.json: the baseline and one variant taking `minutes`."""
    return {"setup": {"seeds": [42, 43], "samples": 48000, "tta": "shift", "jobs": 2,
                      "threads": 1},
            "full_length": {"width 24 for 27 epochs": full_length_row(wide, {"width": 24}, 27,
                                                                      minutes),
                            "baseline": full_length_row(baseline, {}, 46, 36.0)}}


@pytest.mark.parametrize(("wide", "minutes", "reading"), [
    ([0.9600, 0.9602], 36.0, "beats the baseline: +0.0019, against a noise band of 0.0006 (twice "
                             "the largest spread between seeds), in 1.00 times"),
    ([0.9585, 0.9583], 45.0, "stays within the noise: +0.0002, against a noise band of 0.0006 "
                             "(twice the largest spread between seeds), in 1.25 times"),
    ([0.9555, 0.9559], 37.8, "falls behind the baseline: -0.0025, against a noise band of 0.0006 "
                             "(twice the largest spread between seeds), in 1.05 times")])
def test_the_full_length_reading_follows_the_numbers(tmp_path, wide, minutes, reading):
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "full_length.json").write_text(
        json.dumps(full_length_run([0.9580, 0.9584], wide, minutes)))
    text = generate.full_length_table(tmp_path)
    assert f"- width 24 for 27 epochs {reading} the baseline's minutes." in text
    assert "|---|\n| baseline | 46 | 1 | 36.0 | 0.9582 ± 0.0003 | +0.0000 |" in text  # first


def test_minutes_timed_in_another_run_are_not_compared(tmp_path):
    run = full_length_run([0.9580, 0.9584], [0.9555, 0.9559], 45.0)
    run["full_length"]["width 24 for 27 epochs"]["run"] = 2
    run["full_length"]["54 epochs"] = full_length_row([0.9585, 0.9587], {}, 69, 80.0, run=2)
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "full_length.json").write_text(json.dumps(run))
    text = generate.full_length_table(tmp_path)
    assert "- width 24 for 27 epochs falls behind the baseline: -0.0025, against a noise band " \
           "of 0.0006 (twice the largest spread between seeds), timed in another run than the " \
           "baseline, so its minutes are not compared." in text
    assert "- 54 epochs stays within the noise: +0.0004, against a noise band of 0.0006 (twice " \
           "the largest spread between seeds), in 1.50 times the baseline's epochs (timed in " \
           "another run than the baseline, so its minutes are not compared)." in text
    assert "| 54 epochs | 69 | 2 | 80.0 |" in text
