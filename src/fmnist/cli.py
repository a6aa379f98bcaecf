"""What every stage script shares: turning our errors into one line and a non-zero exit."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from fmnist.errors import FmnistError


def stage(main: Callable[[], None]) -> Callable[[], None]:
    """Wrap a stage's `main` so an FmnistError prints `error: ...` and exits with status 1."""

    @functools.wraps(main)
    def run() -> None:
        try:
            main()
        except FmnistError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(1) from None

    return run
