"""Stage prepare: normalize, split 80/20, one-hot, save tensors, draw sample figures."""

import argparse
from pathlib import Path

from fmnist.cli import stage
from fmnist.dataset import Dataset
from fmnist.io import load_params, require, save_figure, save_torch, write_json
from fmnist.plots import batch_figure, class_samples_figure
from fmnist.prepare import prepare_splits, split_summary
from fmnist.runtime import seed_everything


@stage
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--out", default="data/prepared")
    parser.add_argument("--metrics", default="metrics/prepare.json")
    parser.add_argument("--class-samples", default="plots/class_samples.png")
    parser.add_argument("--batch-samples", default="plots/batch_samples.png")
    args = parser.parse_args()

    params = load_params(args.params)
    generator = seed_everything(require(params, "seed", int))
    batch_size = require(params, "batch_size", int)
    splits = prepare_splits(args.raw, require(params, "data.val_fraction", float), generator,
                            limit=require(params, "data.subset", int))
    for name, split in splits.items():
        save_torch(Path(args.out) / f"{name}.pt", split)
    write_json(args.metrics, split_summary(splits))

    train = splits["train"]
    save_figure(args.class_samples, class_samples_figure(train["x"], train["y"], generator))
    training_set = Dataset(train["x"], train["y"], batch_size)
    training_set.shuffle(generator)
    save_figure(args.batch_samples, batch_figure(*training_set[0]))
    print({name: s["samples"] for name, s in split_summary(splits).items()})


if __name__ == "__main__":
    main()
