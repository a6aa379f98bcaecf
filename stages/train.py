"""Stage train@{custom,torch}: fit the assignment network built from our ops or from torch.nn."""

from fmnist import atomic
from fmnist.data.dataset import Dataset
from fmnist.nn.assignment import IMPLEMENTATIONS, initial_network, network_state
from fmnist.runtime import resolve_device, seed_everything, use_determinism
from fmnist.train.fit import fit
from fmnist.train.history import summarize, timings

from _shared import Checkpoints, load_params, load_split, parse, run

PARAMS = ("lr", "momentum", "epochs", "batch_size", "seed", "device", "deterministic",
          "same_init")


def main() -> None:
    args = parse(__doc__, inputs=["--params", "--train", "--val"],
                 outputs=["--model", "--live", "--metrics", "--details", "--timings"],
                 impl={"choices": IMPLEMENTATIONS, "required": True})
    p = load_params(args.params, PARAMS)
    train, val = load_split(args.train), load_split(args.val)
    device = resolve_device(p.device)
    mode = use_determinism(p.deterministic, device)
    checkpoints = Checkpoints(f"train@{args.impl}", p.epochs, p, [args.train, args.val])

    model = initial_network(args.impl, p.seed, p.same_init).to(device)
    best, _, _ = fit(model, p.epochs, Dataset(train["x"], train["y"], p.batch_size),
                     Dataset(val["x"], val["y"], p.batch_size), lr=p.lr, momentum=p.momentum,
                     generator=seed_everything(p.seed), checkpoint=checkpoints)
    summary = summarize(checkpoints.history)
    atomic.save_torch(args.model, network_state(best, args.impl))
    atomic.write_live(args.live, checkpoints.history)
    atomic.write_json(args.metrics, {args.impl: {"val_loss": summary["best_val_loss"]}})
    atomic.write_json(args.details, {"impl": args.impl, "device": str(device), "determinism": mode,
                                     **summary})
    atomic.write_json(args.timings, timings(checkpoints.history))
    checkpoints.clear()


if __name__ == "__main__":
    run(main)
