"""Stage fetch: copy the four raw Fashion-MNIST gz files from the first mirror with a valid copy."""

import sys

from fmnist import atomic
from fmnist.data.fetch import fetch_all

from _shared import load_params, parse, run

PARAMS = ("data.mirrors", "data.timeout")


def main() -> None:
    args = parse(__doc__, inputs=["--params"], outputs=["--out"])
    data = load_params(args.params, PARAMS).data

    fetched = fetch_all(data.mirrors, data.timeout)
    for line in fetched.rejected:
        print(f"warning: {line}", file=sys.stderr)
    atomic.write_dir(args.out, fetched.files)  # all four or none
    for name, mirror in fetched.sources.items():
        print(f"{name}: verified, from {mirror}")


if __name__ == "__main__":
    run(main)
