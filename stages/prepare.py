"""Stage prepare: normalize, split train/val (seeded), one-hot, save tensors, sample figures."""

from fmnist import atomic
from fmnist.data.dataset import Dataset
from fmnist.data.idx import load_mnist
from fmnist.data.splits import make_splits, split_summary
from fmnist.figures.data import batch_figure, class_samples_figure
from fmnist.runtime import seed_everything

from _shared import load_params, parse, run

PARAMS = ("seed", "batch_size", "data.val_fraction", "data.subset")


def main() -> None:
    args = parse(__doc__, inputs=["--params", "--raw"],
                 outputs=["--out", "--details", "--class-samples", "--batch-samples"])
    p = load_params(args.params, PARAMS)
    train, test = load_mnist(args.raw, "train"), load_mnist(args.raw, "t10k")

    generator = seed_everything(p.seed)
    splits = make_splits(train, test, p.data.val_fraction, generator, limit=p.data.subset)
    class_samples = class_samples_figure(splits["train"]["x"], splits["train"]["y"], generator)
    training_set = Dataset(splits["train"]["x"], splits["train"]["y"], p.batch_size)
    training_set.shuffle(generator)

    atomic.write_dir(args.out, {f"{name}.pt": atomic.torch_bytes(split)
                                 for name, split in splits.items()})
    atomic.write_json(args.details, split_summary(splits))
    atomic.save_figure(args.class_samples, class_samples)
    atomic.save_figure(args.batch_samples, batch_figure(*training_set[0]))
    print({name: len(split["y"]) for name, split in splits.items()})


if __name__ == "__main__":
    run(main)
