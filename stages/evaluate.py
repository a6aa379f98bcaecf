"""Stage evaluate: the tuned and both assignment networks on the test samples (its first use)."""

import torch

from fmnist import atomic
from fmnist.analysis.evaluation import (
    confusion_records,
    headline_metrics,
    logits_to_onehot,
    results_by_network,
)
from fmnist.data.classes import CLASS_NAMES
from fmnist.data.dataset import Dataset
from fmnist.figures.evaluation import plot_stats
from fmnist.nn.assignment import restore_network
from fmnist.nn.tuned import restore_tuned
from fmnist.runtime import resolve_device, use_determinism
from fmnist.train.fit import predict

from _shared import load_params, load_split, load_torch, parse, run

PARAMS = ("device", "deterministic")


def main() -> None:
    args = parse(__doc__, inputs=["--params", "--test", "--tuned", "--custom", "--torch"],
                 outputs=["--metrics", "--details", "--confusion", "--figure"])
    p = load_params(args.params, PARAMS)
    device = resolve_device(p.device)
    mode = use_determinism(p.deterministic, device)
    test = load_split(args.test)
    networks = {"tuned": restore_tuned(load_torch(args.tuned), str(args.tuned))}
    for impl in ("custom", "torch"):
        path = getattr(args, impl)
        network = restore_network(load_torch(path), str(path))
        # channels_last, as the tuned one: torch.nn's max-pool is several times slower on NCHW
        networks[impl] = network.to(memory_format=torch.channels_last)

    # 250 images a batch: the activations stay in cache (1000 took half as long again)
    test_set = Dataset(test["x"], test["y"], 250)
    labels = test["y"].numpy().astype("int64")  # (N, 10) one-hot
    predictions = {name: logits_to_onehot(predict(net, test_set, device))
                   for name, net in networks.items()}
    results = results_by_network(predictions, labels, full="tuned")

    atomic.write_json(args.metrics, headline_metrics(results, full="tuned"))
    atomic.write_json(args.details, {"device": str(device), "determinism": mode, **results})
    atomic.write_json(args.confusion, confusion_records(
        predictions["tuned"].argmax(1), labels.argmax(1), CLASS_NAMES))
    atomic.save_figure(args.figure, plot_stats(predictions["tuned"], labels))
    tuned = results["tuned"]
    print(f"tuned network: test accuracy {tuned['accuracy']:.4f}, hardest class "
          f"{tuned['hardest_class']['name']} (recall {tuned['hardest_class']['recall']:.3f})")


if __name__ == "__main__":
    run(main)
