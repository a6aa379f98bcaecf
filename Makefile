# The README's two commands: `make repro` (set up + whole pipeline) and `make test` (set up + tests).
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(abspath $(VENV))/bin
DATA   := /usr/share/datasets/fashion-mnist
export PATH := $(BIN):$(PATH)

.PHONY: setup data repro test lint bench bench-resume docs clean

setup: $(VENV)/.installed

# Re-install only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev,postgres]"
	@# pip compiles the bytecode on one core, compileall on all of them: a fifth of the install.
	@# Like pip, it passes over what this Python cannot compile (a 3.12-only torch test helper).
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $@

# The Debian package holds the original gz files; without root or apt the fetch stage
# falls back to the upstream mirrors listed in params.yaml.
data:
	@if [ -d $(DATA) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else echo "note: $(DATA) missing and apt-get not usable; fetch will try the URLs in params.yaml"; fi

repro: setup data
	dvc repro

# Two pytest workers, one torch thread each (the stages they start inherit it): the suite mostly
# waits on Python starting stages and dvc, so one process leaves a core idle, while two workers
# with torch's default threads oversubscribe two cores. loadfile keeps each file in one worker, so
# its module fixtures (a tiny dvc repro) run once. `python -m pytest` alone runs in one process.
test: setup data
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/bench_ops.py

# Resume after a SIGKILL through the real `dvc repro`, on a fresh clone of HEAD (commit first):
# writes benchmarks/results/resume.json (minutes; keep the machine otherwise idle).
# `make bench-resume ARGS=--quick` checks the machinery in seconds per run and writes nothing.
bench-resume: setup data
	$(BIN)/python benchmarks/resume.py $(ARGS)

# The docs' numbers: tables from the committed outputs, and the `dvc exp show` / `metrics diff`
# sample and docs/plots_diff.png from `dvc exp run -S lr=0.05` on a fresh clone of HEAD
# (a few minutes: two 10-epoch trainings). Commit first: the clone sees only HEAD.
docs: setup data
	$(BIN)/python tools/docs/generate.py --samples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
