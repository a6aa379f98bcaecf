"""Write the numbers of README.md and docs/*.md from the files that hold them.

Each number sits in a block between `<!-- generated:NAME -->` and `<!-- end:NAME -->`.

    python tools/docs/generate.py            tables from the committed files (seconds)
    python tools/docs/generate.py --check    exit 1 naming every block that differs from them
    python tools/docs/generate.py --samples  also the `exp show` / `metrics diff` sample and
                                             docs/plots_diff.png, from `dvc exp run -S lr=0.05`
                                             on a fresh clone of HEAD (minutes; `make docs`)

`--samples -S epochs=1 -S data.subset=2000` adds params to the experiment, to try the machinery
quickly; the block then says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXP_SHOW = ["dvc", "exp", "show", "--only-changed", "--drop", ".*/.*|Created"]


def load(root: Path, name: str) -> Any:
    return json.loads((root / name).read_text(encoding="utf-8"))


def results_table(root: Path) -> str:
    """The README's results table: metrics/, results/test.json, benchmarks/results/seeds.json."""
    test, seeds = load(root, "metrics/test.json"), load(root, "benchmarks/results/seeds.json")
    details = load(root, "results/test.json")["tuned"]
    setup, spread = seeds["setup"], seeds["test_accuracy"]
    runs = seeds["runs"]
    tuned = (f"tuned: ResNet-9 (c = {setup['config']['width']}), one-cycle SGD, random erasing, "
             f"label smoothing, EMA; {setup['epochs']} epochs on train + val; mirror × "
             f"{setup['config']['tta']} test-time views")
    seed_note = (f"{len(runs)} seeds ({', '.join(str(r['seed']) for r in runs)}): "
                 f"{', '.join(format(r['test_accuracy'], '.4f') for r in runs)}; mean "
                 f"**{spread['mean']:.4f}**, standard deviation {spread['std']:.4f} "
                 "(`benchmarks/seeds.py`)")
    rows = [
        "| network | test accuracy | notes |", "|---|---|---|",
        f"| {tuned} | **{test['tuned']['test_acc']:.4f}** (macro precision "
        f"{details['macro_precision']:.4f}, recall {details['macro_recall']:.4f}) | {seed_note} |"]
    for impl, label in (("custom", "our ops"), ("torch", "`torch.nn`")):
        val_loss = load(root, f"metrics/train_{impl}.json")[impl]["val_loss"]
        rows.append(f"| assignment network, {label} | {test[impl]['test_acc']:.4f} | "
                    f"best validation loss {val_loss:.6f} |")
    return "\n".join(rows)


def timings_table(root: Path) -> str:
    """docs/results.md's cost table from docs/measured.json and the seeds' accuracy."""
    measured, seeds = load(root, "docs/measured.json"), load(root, "benchmarks/results/seeds.json")
    run, avx2 = measured["pipeline"], measured["pipeline_avx2"]
    spread = seeds["test_accuracy"]
    return "\n".join([
        "| machine | tuned test accuracy | time |", "|---|---|---|",
        f"| {run['machine']} | {load(root, 'metrics/test.json')['tuned']['test_acc']:.4f}; "
        f"{len(seeds['runs'])} seeds {spread['mean']:.4f} ± {spread['std']:.4f} | "
        f"**{run['total_minutes']} min**: the two assignment networks about "
        f"{run['train_custom_minutes']} + {run['train_torch_minutes']} min, tune about "
        f"{run['tune_minutes']} min (final epochs at a median {run['final_epoch_median_seconds']}"
        " s), the six other stages under a minute together |",
        f"| {avx2['machine']}: `{avx2['command']}` | same recipe | "
        f"about **{avx2['total_minutes_about']} min** |",
        "| a GPU | not measured | not measured |"])


def ops_ratio(root: Path) -> str:
    """docs/gpu-and-cpu.md's whole-step ratio, from benchmarks/results/ops.json."""
    ops = load(root, "benchmarks/results/ops.json")
    lines = []
    for mode, run in ops["runs"].items():
        for key, how in (("train_step", "as the pipeline builds it"),
                         ("train_step_drop_in", "drop-in (a plain nn.Sequential of our layers)")):
            ratios = [f"{run['batch_size'][b][key]['ratio']} at batch {b}"
                      for b in sorted(run["batch_size"], key=int) if key in run["batch_size"][b]]
            if ratios:
                lines.append(f"- {mode}, {ops['setup']['threads']} threads, torch "
                             f"{ops['setup']['torch']}, {how}: a whole SGD step of our network "
                             f"took {' and '.join(ratios)} times torch.nn's.")
    return "\n".join(lines)


def noise_band(stds: list[float]) -> tuple[float, str]:
    """The difference below which two seed means are noise (twice the largest spread between
    seeds), and how the docs say it."""
    noise = 2 * max(stds)
    return noise, f"{noise:.4f} (twice the largest spread between seeds)"


def standing(gain: float, noise: float) -> str:
    """How a difference from the baseline reads against the noise band."""
    if gain > noise:
        return "beats the baseline"
    return "falls behind the baseline" if gain < -noise else "stays within the noise"


def accuracy_cells(acc: dict, base: dict) -> str:
    """A row's "mean ± standard deviation | against the baseline" table cells."""
    return f"{acc['mean']:.4f} ± {acc['std']:.4f} | {acc['mean'] - base['mean']:+.4f}"


def full_length_runs(root: Path, file: str) -> tuple[dict, dict, float, str]:
    """The setup and rows of a full-length benchmark's JSON, and its noise band."""
    run = load(root, file)
    rows = run["full_length"]
    return (run["setup"], rows, *noise_band([r["val_accuracy"]["std"] for r in rows.values()]))


def search_result(row: dict) -> str:
    """A trial's validation loss in the search and its rank among the complete trials."""
    if row["search_rank"] is None:  # pruned: its loss is from the epoch it was stopped at
        return f"{row['search_val_loss']:.4f} (pruned)"
    return f"{row['search_val_loss']:.4f} ({row['search_rank']})"


def ablation_table(root: Path) -> str:
    """docs/results.md's ablation table and its reading, from benchmarks/results/ablation.json."""
    ablation = load(root, "benchmarks/results/ablation.json")
    setup, rows = ablation["setup"], ablation["val_accuracy"]
    base = rows[f"baseline (test-time views: {setup['tta']})"]
    noise, noise_text = noise_band([r["std"] for r in rows.values()])
    lines = [f"Validation accuracy after {setup['epochs']} epochs on the training split alone "
             f"({setup['samples']} images; validation held out, the test set unread), mean ± "
             f"standard deviation over seeds {', '.join(map(str, setup['seeds']))}, about "
             f"{setup['minutes_per_run']} min a run (`benchmarks/ablation.py`):", "",
             "| recipe | validation accuracy | against the baseline |", "|---|---|---|"]
    lines += [f"| {name} | {accuracy_cells(r, base)} |" for name, r in rows.items()]
    matter = [name for name, r in rows.items() if abs(r["mean"] - base["mean"]) > noise]
    further = f"Further from the baseline: {', '.join(matter)}." if matter else \
        "No row is further from it."
    lines += ["", f"Differences under {noise_text} are noise at this budget. {further}"]
    return "\n".join(lines)


def search_table(root: Path) -> str:
    """docs/results.md's search-at-full-length table and verdict, from
    benchmarks/results/search_full_length.json."""
    setup, rows, noise, noise_text = full_length_runs(root,
                                                      "benchmarks/results/search_full_length.json")
    base = rows["trial 0"]
    epoch_minutes = setup["minutes_per_run"] / setup["epochs"]
    lines = [f"The search ran {setup['trials']} trials of {setup['trial_epochs']} epochs on "
             f"{setup['trial_samples']} images in {setup['search_minutes']} min, about "
             f"{setup['search_minutes'] / epoch_minutes:.0f} epochs of the runs below. Its "
             f"baseline and its best other trials then trained for {setup['epochs']} epochs on "
             f"the training split alone; validation accuracy with {setup['tta']} views, mean ± "
             f"standard deviation over seeds {', '.join(map(str, setup['seeds']))}, about "
             f"{setup['minutes_per_run']} min a run (`benchmarks/search_full_length.py`):", "",
             "| trial | changes from the baseline | search's validation loss (rank) | "
             "validation accuracy at full length | against the baseline |",
             "|---|---|---|---|---|"]
    for name, r in rows.items():
        changed = {k: v for k, v in r["params"].items() if v != base["params"].get(k)}
        what = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in sorted(changed.items())) or "(the baseline)"
        lines.append(f"| {name} | {what} | {search_result(r)} | "
                     f"{accuracy_cells(r['val_accuracy'], base['val_accuracy'])} |")
    gains = {name: r["val_accuracy"]["mean"] - base["val_accuracy"]["mean"]
             for name, r in rows.items() if name != "trial 0"}
    best = max(gains, key=gains.get)
    verdict = (f"The best of them, {best}, {standing(gains[best], noise)}: {gains[best]:+.4f}, "
               f"against a noise band of {noise_text}. ")
    verdict += ("The search earns its minutes here." if gains[best] > noise else
                "The search does not earn its minutes on the CPU; keep `tune.trials: 1` there.")
    return "\n".join(lines + ["", verdict])


def full_length_table(root: Path) -> str:
    """docs/results.md's table of recipe variants at full length and what each says, from
    benchmarks/results/full_length.json."""
    setup, rows, noise, noise_text = full_length_runs(root, "benchmarks/results/full_length.json")
    base = rows["baseline"]
    rows = {"baseline": base, **{name: r for name, r in rows.items() if r is not base}}
    lines = [f"Validation accuracy with {setup['tta']} views after training on the training "
             f"split alone ({setup['samples']} images; validation held out, the test set "
             f"unread), mean ± standard deviation over seeds "
             f"{', '.join(map(str, setup['seeds']))}; {setup['jobs']} runs side by side, "
             f"{setup['threads']} thread each (`benchmarks/full_length.py`; run numbers its "
             f"invocations, and minutes compare only within one):", "",
             "| recipe | epochs | run | minutes a run | validation accuracy | "
             "against the baseline |", "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['epochs']} | {r['run']} | {r['minutes_per_run']} | "
              f"{accuracy_cells(r['val_accuracy'], base['val_accuracy'])} |"
              for name, r in rows.items()]
    lines.append("")
    for name, r in rows.items():
        if name == "baseline":
            continue
        gain = r["val_accuracy"]["mean"] - base["val_accuracy"]["mean"]
        lines.append(f"- {name} {standing(gain, noise)}: {gain:+.4f}, against a noise band of "
                     f"{noise_text}, {cost(r, base)}.")
    return "\n".join(lines)


def cost(row: dict, base: dict) -> str:
    """What a full-length variant costs against the baseline, in minutes where both were timed in
    the same run (the machine's speed varies between runs), else in epochs of the same step."""
    if row["run"] == base["run"]:
        return (f"in {row['minutes_per_run'] / base['minutes_per_run']:.2f} times the baseline's "
                f"minutes")
    if not row["changes"]:  # the baseline's own step: epochs are the cost
        return (f"in {row['epochs'] / base['epochs']:.2f} times the baseline's epochs (timed in "
                f"another run than the baseline, so its minutes are not compared)")
    return "timed in another run than the baseline, so its minutes are not compared"


# block name -> (file, maker); every block of these files must be made here
FAST: dict[str, tuple[str, Callable[[Path], str]]] = {
    "results": ("README.md", results_table),
    "timings": ("docs/results.md", timings_table),
    "ops-ratio": ("docs/gpu-and-cpu.md", ops_ratio),
    "ablation": ("docs/results.md", ablation_table),
    "search": ("docs/results.md", search_table),
    "full-length": ("docs/results.md", full_length_table),
}
SLOW = {"exp-show": "docs/comparing-runs.md"}


def block_pattern(name: str) -> re.Pattern[str]:
    key = re.escape(name)
    return re.compile(rf"(<!-- generated:{key} -->\n)(.*?)(<!-- end:{key} -->)", re.S)


def fill(text: str, name: str, body: str) -> str:
    """`text` with block `name` holding `body`; ValueError if the markers are missing."""
    pattern = block_pattern(name)
    if not pattern.search(text):
        raise ValueError(f"no block '{name}' (<!-- generated:{name} --> ... <!-- end:{name} -->)")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(3), text, count=1)


def render(root: Path) -> dict[Path, str]:
    """Each file with fast blocks, as it should read: {path: text}."""
    out: dict[Path, str] = {}
    for name, (file, maker) in FAST.items():
        path = root / file
        text = out.get(path, path.read_text(encoding="utf-8"))
        out[path] = fill(text, name, maker(root))
    return out


def write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(args)} failed in {cwd}:\n{done.stdout}{done.stderr}")
    return done.stdout


def samples(root: Path, extra: list[str]) -> str:
    """`dvc exp run -S lr=0.05 [extra]` on a fresh clone of HEAD: the exp-show block; also
    rewrites docs/plots_diff.png from `dvc plots diff HEAD` in headless Chromium, offline."""
    sys.path.insert(0, str(root))
    from tests import browser

    commit = run(root, dict(os.environ), "git", "rev-parse", "HEAD").strip()
    with tempfile.TemporaryDirectory(prefix="fmnist-docs-") as tmp:
        clone = Path(tmp) / "clone"
        run(root, dict(os.environ), "git", "clone", "-q", str(root), str(clone))
        # the clone's own code, this interpreter's dvc and python, a 120-column terminal
        env = {**os.environ, "PYTHONPATH": str(clone / "src"), "COLUMNS": "120",
               "DVC_NO_ANALYTICS": "1",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        sets = ["-S", "lr=0.05", *(arg for s in extra for arg in ("-S", s))]
        print(f"docs: dvc exp run {' '.join(sets)} in a clone of {commit[:12]} ...", flush=True)
        run(clone, env, "dvc", "exp", "run", *sets)
        show, diff = (re.sub(r"[ \t]+\n", "\n", run(clone, env, *cmd)) for cmd in (
            EXP_SHOW, ["dvc", "metrics", "diff"]))
        run(clone, env, "dvc", "plots", "diff", "HEAD", "-o", "plots_out")
        with browser.NetworkTrap() as trap:
            browser.screenshot(clone / "plots_out" / "index.html", root / "docs" / "plots_diff.png",
                               width=1000, height=1740, proxy=trap.proxy)
        if trap.page_requests():
            raise SystemExit(f"error: the plots page asked the network: {trap.page_requests()}")
    note = "" if not extra else (f" **with `{' '.join(sets[2:])}` added to shorten it: not the "
                                 "real sample; run `make docs`**")
    return (f"Written by `make docs` on commit `{commit[:12]}`{note}:\n\n```console\n"
            f"$ dvc exp run {' '.join(sets)}\n$ {' '.join(EXP_SHOW[:-1])} '{EXP_SHOW[-1]}'\n"
            f"{show.rstrip()}\n$ dvc metrics diff\n{diff.rstrip()}\n```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a block is stale")
    parser.add_argument("--samples", action="store_true", help="re-run the exp-show sample")
    parser.add_argument("-S", dest="extra", action="append", default=[],
                        help="extra param for the sample's experiment (to shorten a trial run)")
    args = parser.parse_args()
    if args.check:
        stale = [str(p.relative_to(ROOT)) for p, text in render(ROOT).items()
                 if p.read_text(encoding="utf-8") != text]
        if stale:
            raise SystemExit(f"error: stale generated blocks in {', '.join(stale)}: run "
                             "`python tools/docs/generate.py`")
        return
    if args.samples:
        path = ROOT / SLOW["exp-show"]
        write(path, fill(path.read_text(encoding="utf-8"), "exp-show",
                         samples(ROOT, args.extra)))
    for path, text in render(ROOT).items():
        write(path, text)


if __name__ == "__main__":
    main()
