"""Stage verify_ops: our Conv2d/MaxPool2d/ReLU against PyTorch's on real batches, plus the
ReLU commutativity experiment; fails (after writing its metrics) if a forward pass differs."""

import argparse

from fmnist.cli import stage
from fmnist.io import load_params, require, save_figure, write_json
from fmnist.prepare import load_dataset
from fmnist.runtime import seed_everything
from fmnist.verify import (
    check_forward,
    commutativity_experiment,
    commutativity_numbers,
    plot_commutativity,
    verify_against_torch,
)

BATCHES = 3  # real training batches checked; each runs every layer three ways (ours, torch, f64)


@stage
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/prepared/train.pt")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics/verify_ops.json")
    parser.add_argument("--figure", default="plots/commutativity.png")
    args = parser.parse_args()

    params = load_params(args.params)
    seed = require(params, "seed", int)
    dataset = load_dataset(args.data, require(params, "batch_size", int))
    dataset.shuffle(seed_everything(seed))

    metrics = verify_against_torch(dataset, BATCHES, seed)
    experiment = commutativity_experiment(seed)
    metrics["commutativity"] = commutativity_numbers(experiment)
    write_json(args.metrics, metrics)
    save_figure(args.figure, plot_commutativity(experiment))
    check_forward(metrics)  # after writing, so a failure leaves its numbers behind


if __name__ == "__main__":
    main()
