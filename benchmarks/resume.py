"""Resume after a kill, measured through the real `dvc repro` on a fresh clone of HEAD.

For `train@custom` and the tune stage's final training, on a small configuration committed in the
clone: (a) an uninterrupted `dvc repro -s -f STAGE`, timed, its outputs hashed and committed;
(b) the same run SIGKILLed (with dvc, its whole process group) once the stage's checkpoint holds
`--kill-at` of its epochs; (c) `dvc repro -s STAGE`, timed, which resumes; then (d) are the outputs
byte-identical to (a)'s, is `git status` clean, what does `dvc status` say (docs/resume.md).

    python benchmarks/resume.py           # default sizes: about a minute per run on 2 cores
    python benchmarks/resume.py --quick   # tiny sizes (3 minutes in all, mostly start-ups)
                                          # (writes JSON only with --out)

The clone runs its own code: the stages import the `fmnist` package, which the venv installs
editable from this checkout's src/, so PYTHONPATH puts the clone's src/ first. Commit first: the
clone sees only HEAD. Timings vary with the machine's load; keep other work off it.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from fmnist.atomic import write_json

ROOT = Path(__file__).resolve().parents[1]
# the params key that holds each measured stage's number of epochs
EPOCHS_KEY = {"train@custom": "epochs", "tune": "tune.final_epochs"}
# the search before the tune stage's final training: one short trial (only the warm-up runs it)
SEARCH = {"trials": 1, "trial_epochs": 1, "trial_samples": 1000}
RESUMED = re.compile(r"^(\S+): resuming from epoch (\d+) of (\d+) .*$", re.MULTILINE)
UP_TO_DATE = "Data and pipelines are up to date."


def environment(clone: Path) -> dict[str, str]:
    """A user's environment for the clone: its own git identity and code, this venv's dvc."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "bench",
            "GIT_COMMITTER_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_EMAIL": "bench@example.invalid", "DVC_NO_ANALYTICS": "1",
            "PYTHONPATH": str(clone / "src"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def run(cwd: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run `args` in `cwd`; its seconds and output (stdout, then stderr); exit on failure."""
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(args)} failed in {cwd}:\n{done.stdout}{done.stderr}")
    return seconds, done.stdout + done.stderr


def set_params(path: Path, values: dict[str, Any]) -> None:
    """Set the dotted `values` ("tune.final_epochs": 6) in the params file at `path`."""
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    for dotted, value in values.items():
        *groups, key = dotted.split(".")
        node = params
        for group in groups:
            node = node[group]
        node[key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def outputs(clone: Path, stage: str) -> list[str]:
    """The paths that dvc.yaml lists as `stage`'s outs and metrics ("train@custom": its item)."""
    name, _, item = stage.partition("@")
    spec = yaml.safe_load((clone / "dvc.yaml").read_text(encoding="utf-8"))["stages"][name]
    entries = [*spec.get("outs", []), *spec.get("metrics", [])]
    paths = [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]
    return [path.replace("${item.impl}", item) for path in paths]


def hashes(clone: Path, paths: list[str]) -> dict[str, str]:
    """The sha256 of every file under `paths` (files or folders), by path relative to `clone`."""
    files = []
    for path in paths:
        target = clone / path
        found = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else []
        files += found or [target]
    return {str(f.relative_to(clone)): hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file()
            else "missing" for f in files}


def saved_epochs(state: Path) -> int | None:
    """How many epochs the checkpoint at `state` holds (Checkpoints.store's layout), or None."""
    try:
        saved = torch.load(state, weights_only=True, map_location="cpu")
        return len(saved["training"]["history"])
    except (OSError, RuntimeError, EOFError, KeyError, ValueError):
        return None  # not there yet, or removed between the glob and the load


def checkpoint(folder: Path) -> tuple[Path, int] | None:
    """The stage's state.pt under `folder` and its mtime (ns), if there is one."""
    try:
        state = next(folder.glob("*/state.pt"))
        return state, state.stat().st_mtime_ns
    except (StopIteration, FileNotFoundError):
        return None


def kill_at(clone: Path, env: dict[str, str], stage: str, mark: int, log: Path
            ) -> tuple[float, int]:
    """`dvc repro -s -f stage`, SIGKILLed with its process group once the stage's checkpoint
    holds `mark` epochs; the seconds it ran and the epochs its checkpoint holds after the kill."""
    start = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(["dvc", "repro", "-s", "-f", stage], cwd=clone, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    folder, seen = clone / ".checkpoints" / stage, None
    while (state := checkpoint(folder)) is None or state[1] == seen \
            or (saved_epochs(state[0]) or 0) < mark:
        # polled: each new state.pt (by mtime) is read once, for how many epochs it holds
        seen = None if state is None else state[1]
        if process.poll() is not None:
            raise SystemExit(f"error: {stage} ended (exit {process.returncode}) before its "
                             f"checkpoint held {mark} epochs:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # dvc and the stage it runs: no chance to clean up
    process.wait()
    killed = time.perf_counter() - start
    return killed, saved_epochs(state[0]) or 0


def measure(clone: Path, env: dict[str, str], stage: str, epochs: int, kill_fraction: float
            ) -> dict[str, Any]:
    """Steps (a)-(d) of the module docstring for `stage`, trained `epochs` epochs."""
    full, _ = run(clone, env, "dvc", "repro", "-s", "-f", stage)
    paths = outputs(clone, stage)
    expected = hashes(clone, paths)
    run(clone, env, "git", "add", "-A")
    run(clone, env, "git", "commit", "-q", "--allow-empty", "-m", f"{stage}: uninterrupted run")
    mark = min(epochs - 1, max(1, math.ceil(kill_fraction * epochs)))
    killed, saved = kill_at(clone, env, stage, mark, clone.parent / f"{stage}.killed.log")
    resumed, out = run(clone, env, "dvc", "repro", "-s", stage)
    line = RESUMED.search(out)
    git_status = run(clone, env, "git", "status", "--porcelain", "--untracked-files=all")[1]
    dvc_status = run(clone, env, "dvc", "status", "--with-deps", stage)[1].strip()
    return {"epochs": epochs, "full_s": round(full, 1), "killed_at_s": round(killed, 1),
            "epochs_saved_at_kill": saved, "resumed_s": round(resumed, 1),
            "resumed_over_full": round(resumed / full, 2),
            "resume_line": line[0] if line else None,
            # the stage resumes right after its last saved epoch, and says so
            "resumed_where_expected": bool(line) and line[1] == stage
            and int(line[2]) == saved + 1 and int(line[3]) == epochs,
            "identical": hashes(clone, paths) == expected, "outputs": sorted(expected),
            "git_clean": git_status == "", "git_status": git_status.splitlines(),
            "no_checkpoints_left": not (clone / ".checkpoints" / stage).exists(),
            "dvc_clean": dvc_status == UP_TO_DATE, "dvc_status": dvc_status}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's description elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text(encoding="utf-8") if cpuinfo.is_file() else ""
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found[1].strip() if found else platform.processor() or platform.machine()


def prepare_clone(clone: Path, env: dict[str, str], config: dict[str, Any]) -> str:
    """Clone HEAD, commit the small `config`, run the measured stages' upstream; HEAD's hash."""
    root = run(ROOT, env, "git", "rev-parse", "--show-toplevel")[1].strip()
    commit = run(Path(root), env, "git", "rev-parse", "HEAD")[1].strip()
    run(clone.parent, env, "git", "clone", "-q", "--no-checkout", root, str(clone))
    run(clone, env, "git", "checkout", "-q", "-b", "resume-bench", commit)
    set_params(clone / "params.yaml", config)
    run(clone, env, "git", "commit", "-q", "-am", "resume benchmark: small configuration")
    run(clone, env, "dvc", "repro", "verify_ops")  # fetch, prepare, verify_ops
    # The study (studies/, untracked) keeps the search's finished trial, so each measured run
    # of tune is its final training alone: the warm-up runs the search with a 1-epoch final one.
    set_params(clone / "params.yaml", {"tune.final_epochs": 1})
    run(clone, env, "dvc", "repro", "-s", "tune")
    run(clone, env, "git", "checkout", "-q", "params.yaml")
    return commit


def table(stages: dict[str, dict[str, Any]]) -> str:
    """The measurements as a plain-text table, a row per stage."""
    rows = [("stage", "epochs", "full s", "killed at s", "resumed s", "resumed/full",
             "identical", "git clean", "dvc clean")]
    rows += [(name, str(r["epochs"]), f"{r['full_s']:.1f}", f"{r['killed_at_s']:.1f}",
              f"{r['resumed_s']:.1f}", f"{r['resumed_over_full']:.2f}", str(r["identical"]),
              str(r["git_clean"]), str(r["dvc_clean"])) for name, r in stages.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    resumes = [f"  {name}: {r['resume_line']}" for name, r in stages.items()]
    return "\n".join([*lines, "resume lines:", *resumes])


def main() -> None:
    """Measure both stages on a fresh clone, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # on 2 busy CPU cores an epoch of 4800 samples took 12-25 s (custom), 6000 tuned ones 32 s
    parser.add_argument("--subset", type=int, default=6000, help="data.subset")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of train@custom")
    parser.add_argument("--final-epochs", type=int, default=4, help="tune.final_epochs")
    parser.add_argument("--kill-at", type=float, default=0.6,
                        help="kill once this fraction of the epochs is checkpointed (rounded up)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (subset 2000, 3 epochs each): checks the machinery")
    parser.add_argument("--out", type=Path, default=None,
                        help="default benchmarks/results/resume.json; none with --quick")
    args = parser.parse_args()
    if args.quick:
        args.subset, args.epochs, args.final_epochs = 2000, 3, 3
    if min(args.epochs, args.final_epochs) < 2 or not 0 < args.kill_at < 1:
        parser.error("a kill part-way needs --epochs and --final-epochs >= 2, 0 < --kill-at < 1")
    out = args.out or (None if args.quick else ROOT / "benchmarks" / "results" / "resume.json")
    config = {"data.subset": args.subset, "epochs": args.epochs,
              "tune.final_epochs": args.final_epochs, **{f"tune.{k}": v for k, v in SEARCH.items()}}

    with tempfile.TemporaryDirectory(prefix="fmnist-resume-") as tmp:
        clone = Path(tmp) / "clone"
        env = environment(clone)
        commit = prepare_clone(clone, env, config)
        print(f"resume: clone of {commit[:12]} ready; measuring", flush=True)
        stages = {}
        for stage, key in EPOCHS_KEY.items():
            stages[stage] = measure(clone, env, stage, config[key], args.kill_at)
            print(f"resume: {stage} done", flush=True)
    print(table(stages))
    if out is not None:
        write_json(out, {"commit": commit, "cpu": cpu_model(), "cpus": os.cpu_count(),
                         "torch": torch.__version__, "quick": args.quick, "config": config,
                         "kill_at": args.kill_at, "stages": stages})
        print(f"resume: wrote {out}")


if __name__ == "__main__":
    main()
