"""The study's storage: clear errors, and several real worker processes on one study (SQLite,
a journal file, a throw-away PostgreSQL): one shared budget, no point proposed twice, and the
trial of a worker killed mid-trial failed by its silent heartbeat and retried."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from fmnist.errors import StorageError
from fmnist.tune.search import FINISHED, open_study, work
from fmnist.tune.space import BASELINE, suggest
from fmnist.tune.storage import open_storage, redacted

# A worker process on study "s": a trivially cheap objective (the search machinery is under test,
# not training), after waiting for its peers; with "hang" its trial never ends (to be killed).
WORKER = """
import sys, threading, time
from pathlib import Path
from fmnist.tune.search import open_study, work
from fmnist.tune.space import BASELINE, suggest
from fmnist.tune.storage import open_storage
url, budget, worker, mode, folder = sys.argv[1:6]
study = open_study(open_storage(url, heartbeat=1), "s", 7, int(worker))
Path(folder, f"ready-{worker}").touch()
while len(list(Path(folder).glob("ready-*"))) < int(sys.argv[6]):
    time.sleep(0.02)
def cheap(trial):
    _, train = suggest(trial)
    if mode == "hang":
        trial.set_user_attr("hangs", True)
        threading.Event().wait()
    return train.lr
print(work(study, cheap, int(budget), int(worker)))
"""


def sqlite(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/s.db"


def test_redacted_hides_the_password():
    assert redacted("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"


def test_a_closed_port_is_one_clear_error_at_once():
    start = time.monotonic()
    with pytest.raises(StorageError, match=r"^storage postgresql\+psycopg://u:\*\*\*@127.0.0.1:9/"
                                           r"db: cannot connect \(.*refused"):
        open_storage("postgresql://u:pw@127.0.0.1:9/db", heartbeat=5)
    assert time.monotonic() - start < 10


def test_a_server_that_never_answers_times_out():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does) and never says a word
    port = silent.getsockname()[1]
    try:
        start = time.monotonic()
        with pytest.raises(StorageError, match="cannot connect"):
            open_storage(f"postgresql+psycopg://u@127.0.0.1:{port}/db", heartbeat=5,
                         connect_timeout=2)
        assert time.monotonic() - start < 20  # not forever
    finally:
        silent.close()


def test_a_missing_driver_says_what_to_install():
    with pytest.raises(StorageError, match=r'driver is missing; .*pip install -e "\.\[postgres'):
        open_storage("postgresql+psycopg2://u@127.0.0.1/db", heartbeat=5)  # psycopg2: absent


def cheap(trial: optuna.Trial) -> float:
    return suggest(trial)[1].lr


def url_of(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    return {"sqlite": f"sqlite:///{tmp_path}/s.db", "journal": f"journal:///{tmp_path}/s.log"}[
        backend]


def start(url: str, budget: int, worker: int, mode: str, folder: Path, peers: int
          ) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, url, str(budget), str(worker), mode,
                             str(folder), str(peers)], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@pytest.mark.parametrize("backend", ["postgres", "journal"])
def test_two_workers_share_one_budget_and_never_propose_a_point_twice(backend, tmp_path, request):
    url = url_of(backend, tmp_path, request)
    workers = [start(url, 12, w, "cheap", tmp_path, peers=2) for w in (0, 1)]
    outputs = [p.communicate(timeout=120) for p in workers]
    assert [p.returncode for p in workers] == [0, 0], outputs
    trials = optuna.load_study(study_name="s", storage=open_storage(url, heartbeat=1)).trials
    finished = [t for t in trials if t.state in FINISHED]
    assert 12 <= len(finished) <= 12 + 1  # each stops at the budget; the other's last trial ends
    assert len(trials) == len(finished)  # nothing left running or waiting, nothing failed
    ran = [int(out) for out, _ in outputs]
    assert sum(ran) == len(finished) and min(ran) >= 1, ran  # both took part
    by_worker = {t.user_attrs["worker"] for t in trials}
    assert by_worker == {0, 1}
    proposed = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(proposed)) == len(proposed)  # own seeds and a constant liar


def await_trial(study: optuna.Study, found, deadline: float) -> FrozenTrial:
    """Poll the storage until a trial satisfies `found`."""
    while True:
        hits = [t for t in study.get_trials(deepcopy=False) if found(t)]
        if hits:
            return hits[0]
        assert time.monotonic() < deadline, [(t.number, t.state) for t in study.trials]
        time.sleep(0.1)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_killed_worker_s_trial_is_failed_and_retried(backend, tmp_path, request):
    url = url_of(backend, tmp_path, request)
    study = open_study(open_storage(url, heartbeat=1), "s", 7, 0)  # the stage's, opened first
    doomed = start(url, 5, 1, "hang", tmp_path, peers=1)
    deadline = time.monotonic() + 60
    try:
        killed = await_trial(study, lambda t: t.state == TrialState.RUNNING
                             and t.user_attrs.get("hangs"), deadline)  # inside its trial
    finally:
        os.kill(doomed.pid, signal.SIGKILL)  # no chance to report anything
        doomed.wait()
    assert killed.params == BASELINE and killed.user_attrs["worker"] == 1  # first in the queue
    while study.trials[killed.number].state == TrialState.RUNNING:  # until it falls silent
        assert time.monotonic() < deadline
        time.sleep(0.2)
        work(study, cheap, sum(t.state in FINISHED for t in study.trials) + 1, 0)
    assert study.trials[killed.number].state == TrialState.FAIL
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.params == killed.params and retry.state == TrialState.COMPLETE
    assert retry.user_attrs["worker"] == 0  # run here, by the surviving worker
