"""An extra worker for the tune stage's study: runs trials of the same global budget until
it is spent, and writes nothing. Needs the same params and data/prepared as the stage, and a
study both can reach (tune.storage: a PostgreSQL URL, or on one machine a journal file or SQLite);
start it on any machine, any number of times, before or while `dvc repro` runs the tune stage:

    python stages/tune_join.py --params params.yaml --train data/prepared/train.pt \\
        --val data/prepared/val.pt [--worker N]
"""

import os
import socket
import zlib

from _tuning import open_tuning

from fmnist.tune.search import describe, states, work

from _shared import parse, run


def main() -> None:
    args = parse(__doc__, inputs=["--params", "--train", "--val"], outputs=[],
                 worker={"type": int, "help": "this worker's id (>= 1); default: from host+pid"})
    worker = args.worker or 1 + zlib.crc32(f"{socket.gethostname()}/{os.getpid()}".encode())
    t = open_tuning(args, worker)
    print(f"worker {worker} joins study {t.study.study_name}; precision: {t.precision}")
    ran = work(t.study, t.objective, t.params.tune.trials, worker,
               on_trial=lambda trial: print(describe(trial), flush=True))
    print(f"worker {worker}: ran {ran} trials; the study holds {dict(states(t.study))}")


if __name__ == "__main__":
    run(main)
