"""Trainings side by side on the CPU: forked workers, a share of its threads each.

Two single-thread trainings at once get more done than one on two threads (small kernels
parallelise poorly), and forked workers share the data the parent loaded instead of pickling it.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def threads_each(jobs: int) -> int:
    """The CPU threads each of `jobs` side-by-side trainings gets."""
    return max(1, torch.get_num_threads() // jobs)


def side_by_side(work: Callable[[T], R], items: Iterable[T], jobs: int) -> list[R]:
    """`work` of each item, in order: `jobs` at a time in forked workers (a share of the threads
    each), or here, one after another, for one job."""
    if jobs == 1:
        return [work(item) for item in items]
    with multiprocessing.get_context("fork").Pool(
            jobs, initializer=torch.set_num_threads, initargs=(threads_each(jobs),)) as pool:
        return pool.map(work, items, chunksize=1)
