"""Progress bars of a training run: one per epoch and, for longer runs, one with its end."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

LOG_INTERVAL = 30.0  # seconds: a few lines a minute in a log, where every refresh is a line


class Progress:
    """A bar per epoch and, for runs of several epochs, one over the whole run with its end."""

    def __init__(self, epochs: int, batches: int, enabled: bool, validation: bool = True) -> None:
        self.epochs, self.batches, self.enabled = epochs, batches, enabled
        self.validation = validation  # False: the run trains on its validation data, no val figure
        self.interval = 0.1 if sys.stderr.isatty() else LOG_INTERVAL
        self.overall = tqdm(total=epochs * batches, desc="training", unit="batch", position=0,
                            disable=not enabled or epochs == 1, dynamic_ncols=True,
                            mininterval=self.interval)
        self.bar: tqdm | None = None

    @contextmanager
    def epoch(self, epoch: int) -> Iterator[Progress]:
        """Show epoch `epoch`'s bar for the block (below the overall one, if any)."""
        nested = not self.overall.disable
        with tqdm(total=self.batches, desc=f"epoch {epoch}/{self.epochs}", unit="batch",
                  disable=not self.enabled, position=int(nested), leave=not nested,
                  dynamic_ncols=True, mininterval=self.interval) as self.bar:
            yield self

    def step(self) -> None:
        """One batch done."""
        self.bar.update()
        self.overall.update()
        done, elapsed = self.overall.n, self.overall.format_dict["elapsed"]
        if done and not self.overall.disable:  # when the whole run should end, at the pace so far
            left = elapsed / done * (self.overall.total - done)
            end = time.strftime("%H:%M", time.localtime(time.time() + left))
            self.overall.set_postfix_str(f"ends ~{end}", refresh=False)

    def show(self, refresh: bool = True, **figures: str) -> None:
        """Figures beside the epoch's bar (none named val_* where validation means nothing)."""
        self.bar.set_postfix(refresh=refresh, **{k: v for k, v in figures.items()
                                                 if self.validation or not k.startswith("val")})

    def close(self) -> None:
        self.overall.close()
