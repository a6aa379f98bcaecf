"""Stage train@{custom,torch}: fit the assignment network built from our ops or from torch.nn."""

import argparse
from pathlib import Path

from fmnist.cli import stage
from fmnist.io import load_params, require, save_torch, write_json
from fmnist.models import IMPLEMENTATIONS, initial_network
from fmnist.prepare import load_dataset
from fmnist.runtime import resolve_device, seed_everything
from fmnist.tracking import LiveLogger, summarize
from fmnist.training import fit


@stage
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--model", required=True)
    parser.add_argument("--live", required=True, help="dvclive directory (per-epoch TSVs)")
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    seed = require(params, "seed", int)
    batch_size = require(params, "batch_size", int)
    device = resolve_device(require(params, "device", str))
    training_set = load_dataset(Path(args.data) / "train.pt", batch_size)
    validation_set = load_dataset(Path(args.data) / "val.pt", batch_size)

    model = initial_network(args.impl, seed, require(params, "same_init", bool))
    logger = LiveLogger(args.live)
    best_model, _, _ = fit(
        model, require(params, "epochs", int), training_set, validation_set,
        lr=require(params, "lr", (int, float)), momentum=require(params, "momentum", (int, float)),
        generator=seed_everything(seed), device=device, on_epoch=logger)
    logger.close()
    save_torch(args.model, {"impl": args.impl, "state_dict": best_model.cpu().state_dict()})
    write_json(args.metrics, {"impl": args.impl, **summarize(logger.results)})


if __name__ == "__main__":
    main()
