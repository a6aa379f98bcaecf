"""Where a study lives: SQLite by default, PostgreSQL for workers on several machines.

Connections time out instead of hanging, and running trials send heartbeats: a trial whose
worker died (no heartbeat for `3 * heartbeat` seconds) is marked failed by the next worker that
looks, and retried with the same parameters.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna
import sqlalchemy
from sqlalchemy.engine import make_url

from fmnist.errors import StorageError

CONNECT_TIMEOUT = 10  # seconds to reach a database server, then a clear error
RETRIES = 2           # how often a dead worker's trial is retried
CREATE_ATTEMPTS = 5
POSTGRES_DRIVER = "postgresql+psycopg"  # psycopg 3: `pip install -e ".[postgres]"`


def redacted(url: str) -> str:
    """`url` without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def open_storage(url: str, heartbeat: int, connect_timeout: float = CONNECT_TIMEOUT
                 ) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at `url` with timeouts and heartbeats; StorageError if unusable.

    `postgresql://` means psycopg 3 (`postgresql+psycopg://`), the driver of our extra.
    """
    if url.startswith("postgresql://"):
        url = POSTGRES_DRIVER + url.removeprefix("postgresql")
    engine: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine["connect_args"] = {"connect_timeout": max(1, round(connect_timeout))}
    elif url.startswith("sqlite"):
        engine["connect_args"] = {"timeout": 60}  # wait for other workers' write locks
    for attempt in range(CREATE_ATTEMPTS):
        try:
            return _rdb_storage(url, engine, heartbeat)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # workers starting together race to create Optuna's tables: one wins, retry
            time.sleep(0.2 * (attempt + 1))
    return _rdb_storage(url, engine, heartbeat)


def _rdb_storage(url: str, engine: dict[str, Any], heartbeat: int) -> optuna.storages.RDBStorage:
    """The RDBStorage itself; our errors for a missing driver or an unreachable server."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(RETRIES)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                heartbeat_stale_trial_callback=retry)
    except (ImportError, sqlalchemy.exc.NoSuchModuleError):
        raise StorageError(f"storage {redacted(url)}: its database driver is missing; for "
                           'PostgreSQL with psycopg 3: pip install -e ".[postgres]"') from None
    except sqlalchemy.exc.OperationalError as err:
        reason = " ".join(str(err.orig or err).split())[:300]
        raise StorageError(f"storage {redacted(url)}: cannot connect ({reason})") from None


@contextmanager
def exclusive(storage: optuna.storages.BaseStorage, key: int) -> Iterator[None]:
    """Hold a lock shared by every worker of a PostgreSQL study (an advisory lock).

    Elsewhere there is no cross-process lock: SQLite studies serve workers on one machine, whose
    rare simultaneous claims can overshoot the trial budget by at most the workers' number - 1.
    """
    engine = getattr(storage, "engine", None)
    if engine is None or engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


@contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial: optuna.Trial) -> Iterator[None]:
    """Record `trial`'s heartbeat every interval while the block runs (ask/tell has no thread)."""
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            storage.record_heartbeat(trial._trial_id)  # no public id: Optuna's own thread uses it

    storage.record_heartbeat(trial._trial_id)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
