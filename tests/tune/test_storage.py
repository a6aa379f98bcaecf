"""The study's storage: SQLite and a real PostgreSQL, timeouts, heartbeats, the shared lock."""

from __future__ import annotations

import socket
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from fmnist.errors import StorageError
from fmnist.tune.storage import exclusive, heartbeat, open_storage, redacted


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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_silent_trial_is_failed_and_retried_with_its_parameters(backend, tmp_path, request):
    url = sqlite(tmp_path) if backend == "sqlite" else request.getfixturevalue("postgres_url")
    study = optuna.create_study(storage=open_storage(url, heartbeat=1))
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    study._storage.record_heartbeat(trial._trial_id)  # one beat, then its worker "dies"
    time.sleep(4.5)  # past the grace period of 3 heartbeats
    optuna.storages.fail_stale_trials(study)
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert study.trials[1].params == study.trials[0].params


def test_heartbeat_keeps_a_long_trial_alive(tmp_path):
    study = optuna.create_study(storage=open_storage(sqlite(tmp_path), heartbeat=1))
    trial = study.ask()
    with heartbeat(study._storage, trial):
        time.sleep(4.5)
        optuna.storages.fail_stale_trials(study)
        assert study.trials[0].state == TrialState.RUNNING


def test_exclusive_is_one_holder_at_a_time_on_postgres(postgres_url):
    storage = open_storage(postgres_url, heartbeat=5)
    inside, overlaps = [], []

    def hold() -> None:
        with exclusive(storage, 42):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.3)
            inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1, 1, 1]
