"""Stage fetch: copy the four raw Fashion-MNIST gz files from the first mirror with a valid copy."""

import argparse

from fmnist.cli import stage
from fmnist.fetch import DEFAULT_TIMEOUT, fetch_all
from fmnist.io import load_params, require


@stage
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="data/raw")
    args = parser.parse_args()

    params = load_params(args.params)
    mirrors = require(params, "data.mirrors", list)
    timeout = float(params["data"].get("timeout", DEFAULT_TIMEOUT))
    for name, mirror in fetch_all(mirrors, args.out, timeout).items():
        print(f"{name}: verified, from {mirror}")


if __name__ == "__main__":
    main()
