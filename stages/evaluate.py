"""Stage evaluate: the tuned and both assignment networks on the 10000 test samples."""

import argparse
from pathlib import Path

from fmnist.cli import stage
from fmnist.evaluation import (
    classification_stats,
    confusion_records,
    hardest_class,
    logits_to_onehot,
    plot_stats,
)
from fmnist.idx import CLASS_NAMES
from fmnist.io import load_params, require, write_json
from fmnist.models import IMPLEMENTATIONS, load_network
from fmnist.prepare import load_dataset
from fmnist.runtime import resolve_device
from fmnist.training import predict
from fmnist.tuned import load_tuned


@stage
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--test", default="data/prepared/test.pt")
    parser.add_argument("--models", default="models")
    parser.add_argument("--metrics", default="metrics/test.json")
    parser.add_argument("--confusion", default="metrics/confusion.json")
    parser.add_argument("--figure", default="plots/stats.png")
    args = parser.parse_args()

    device = resolve_device(require(load_params(args.params), "device", str))
    test_set = load_dataset(args.test, 1000)
    labels = test_set.labels.numpy().astype("int64")  # (N, 10) one-hot
    networks = {"tuned": load_tuned(Path(args.models) / "tuned.pt")}
    networks |= {impl: load_network(Path(args.models) / f"{impl}.pt") for impl in IMPLEMENTATIONS}
    predictions = {name: logits_to_onehot(predict(net, test_set, device))
                   for name, net in networks.items()}

    tuned = predictions["tuned"]
    stats = plot_stats(tuned, labels, args.figure)
    stats["hardest_class"] = hardest_class(tuned, labels)
    stats["assignment_networks"] = {
        impl: {key: value for key, value in classification_stats(
            predictions[impl], labels, CLASS_NAMES).items() if key != "per_class"}
        for impl in IMPLEMENTATIONS}
    write_json(args.metrics, stats)
    write_json(args.confusion, confusion_records(tuned.argmax(1), labels.argmax(1), CLASS_NAMES))
    print(f"tuned network: test accuracy {stats['accuracy']:.4f}, hardest class "
          f"{stats['hardest_class']['name']} (recall {stats['hardest_class']['recall']:.3f})")


if __name__ == "__main__":
    main()
