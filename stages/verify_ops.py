"""Stage verify_ops: our Conv2d/MaxPool2d/ReLU against PyTorch's on real batches, plus the
ReLU commutativity experiment; fails (after writing its results) if a forward pass differs
from torch's or a gradient is off against float64 (fmnist.analysis.verify states the bounds)."""

from fmnist import atomic
from fmnist.analysis.commutativity import commutativity_experiment, commutativity_numbers
from fmnist.analysis.verify import check, headline, verify_against_torch
from fmnist.data.dataset import Dataset
from fmnist.figures.ops import commutativity_figure
from fmnist.runtime import resolve_device, seed_everything, use_determinism

from _shared import load_params, load_split, parse, run

PARAMS = ("seed", "batch_size", "device", "deterministic")
BATCHES = 3  # real training batches checked; each runs every layer three ways (ours, torch, f64)


def main() -> None:
    args = parse(__doc__, inputs=["--params", "--data"],
                 outputs=["--metrics", "--details", "--figure"])
    p = load_params(args.params, PARAMS)
    split = load_split(args.data)

    dataset = Dataset(split["x"], split["y"], p.batch_size)
    dataset.shuffle(seed_everything(p.seed))
    device = resolve_device(p.device)
    use_determinism(p.deterministic, device)
    details = verify_against_torch(dataset, BATCHES, p.seed, device)
    experiment = commutativity_experiment(p.seed)
    details["commutativity"] = commutativity_numbers(experiment)

    atomic.write_json(args.metrics, headline(details))
    atomic.write_json(args.details, details)
    atomic.save_figure(args.figure, commutativity_figure(experiment))
    check(details)  # after writing, so a failure leaves its numbers behind


if __name__ == "__main__":
    run(main)
