"""Where a study lives: SQLite, PostgreSQL (workers on several machines), a journal file
(`journal:///studies/tune.log`: no heartbeat there, so a dead worker's trial stays running)."""

import time
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage
from sqlalchemy.engine import make_url

from fmnist.errors import StorageError

CONNECT_TIMEOUT = 10  # seconds to reach a database server, then a clear error
RETRIES = 2           # how often a dead worker's trial (silent for 3 heartbeats) is retried
CREATE_ATTEMPTS = 5
JOURNAL = "journal:///"  # then a path, relative as after sqlite:///
POSTGRES_DRIVER = "postgresql+psycopg"  # psycopg 3: `pip install -e ".[postgres]"`


def redacted(url: str) -> str:
    """`url` without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def open_storage(url: str, heartbeat: int, connect_timeout: float = CONNECT_TIMEOUT
                 ) -> optuna.storages.BaseStorage:
    """The study storage at `url` with timeouts, heartbeats, retries; StorageError if unusable."""
    if url.startswith(JOURNAL):
        return JournalStorage(JournalFileBackend(url.removeprefix(JOURNAL)))
    if url.startswith("postgresql://"):  # psycopg 3, the driver of our extra
        url = POSTGRES_DRIVER + url.removeprefix("postgresql")
    engine: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine["connect_args"] = {"connect_timeout": max(1, round(connect_timeout))}
    elif url.startswith("sqlite"):
        engine["connect_args"] = {"timeout": 60}  # wait for other workers' write locks
    retry = RetryHeartbeatStaleTrialCallback(max_retry=RETRIES)
    for attempt in range(CREATE_ATTEMPTS):
        try:
            return RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat,
                              grace_period=3 * heartbeat, heartbeat_stale_trial_callback=retry)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            time.sleep(0.2 * (attempt + 1))  # workers starting together race to create tables
        except (ImportError, sqlalchemy.exc.NoSuchModuleError):
            raise StorageError(f"storage {redacted(url)}: its database driver is missing; for "
                               'PostgreSQL with psycopg 3: pip install -e ".[postgres]"') from None
        except sqlalchemy.exc.OperationalError as err:
            reason = " ".join(str(err.orig or err).split())[:300]
            raise StorageError(f"storage {redacted(url)}: cannot connect ({reason})") from None
    raise StorageError(f"storage {redacted(url)}: Optuna's tables could not be created")
