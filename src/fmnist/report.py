"""reports/report.md, written from the pipeline's own metrics and figures.

Every number here is read from a metrics file, so the report stays true when params change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fmnist.io import read_json
from fmnist.verify import COMMUTATIVITY_EXPLANATION

BASELINE_NOTE = (" (the hand-picked baseline enqueued as trial 0: no configuration drawn by the "
                 "sampler beat it within this budget)")
UPPER_BODY = {"T-shirt/top", "Pullover", "Coat", "Shirt", "Dress"}
METRICS = ("prepare", "verify_ops", "train_custom", "train_torch", "compare", "tune", "test")


def load_metrics(folder: str | Path) -> dict[str, Any]:
    """Every metrics file the report reads, by stem."""
    return {name: read_json(Path(folder) / f"{name}.json") for name in METRICS}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def data_section(m: dict[str, Any], plots: str) -> str:
    """Sample counts and the two data figures."""
    counts = m["prepare"]
    rows = [[name, split["samples"], min(split["per_class"].values()),
             max(split["per_class"].values())] for name, split in counts.items()]
    return "\n\n".join([
        "## Data",
        _table(["split", "samples", "fewest per class", "most per class"], rows),
        f"![One sample per class]({plots}/class_samples.png)",
        f"![Samples of one training batch]({plots}/batch_samples.png)",
    ])


def losses_section(m: dict[str, Any], plots: str) -> str:
    """The two implementations' training compared, with an account of their differences."""
    c, custom, ref = m["compare"], m["train_custom"], m["train_torch"]
    rows = [[impl, t["best_epoch"], f"{t['best_val_loss']:.4f}", f"{t['val_accuracy']:.4f}",
             f"{t['seconds_per_epoch']:.1f}"] for impl, t in (("custom", custom), ("torch", ref))]
    return "\n\n".join([
        "## Training the assignment network twice",
        _table(["implementation", "best epoch", "best val loss", "val accuracy (best epoch)",
                "s / epoch"], rows),
        f"![Loss curves]({plots}/losses.png)",
        _differences(c),
    ])


def _differences(c: dict[str, Any]) -> str:
    """Why the two curves differ (or do not), with the measured gaps and the speed ratio."""
    gaps = (f"the largest per-epoch gap is {c['train_loss']['max_abs_diff']:.2g} in training "
            f"loss, {c['val_loss']['max_abs_diff']:.2g} in validation loss and "
            f"{c['val_accuracy']['max_abs_diff']:.2g} in validation accuracy")
    exact = all(c[k]["max_abs_diff"] == 0 for k in ("train_loss", "val_loss", "val_accuracy"))
    growth = ("Here they stayed below the logged precision of 1e-6: " if exact else
              "Those rounding differences grow through thousands of SGD steps, so the curves "
              "agree closely but not bit for bit: ")
    return ("Both networks start from the same weights (the custom one receives a copy of the "
            "torch one's initial parameters) and see the same batches in the same order (one "
            "seeded generator shuffles each epoch). What remains is the order in which each "
            "implementation sums its products: unfold + matrix multiply in ours, oneDNN's "
            "convolution kernels in PyTorch's, each rounding differently at about 1e-7 relative "
            f"per operation. {growth}{gaps}. Speed: our network takes "
            f"{c['time_ratio_custom_over_torch']:.2f}x the time per epoch of the torch.nn one "
            f"({c['seconds_per_epoch']['custom']:.1f} s vs "
            f"{c['seconds_per_epoch']['torch']:.1f} s).")


def ops_section(m: dict[str, Any], plots: str) -> str:
    """The equivalence table of our ops against PyTorch's, and the commutativity experiment."""
    v = m["verify_ops"]
    grads = sorted({k for entry in v["layers"].values() for k in entry if k.startswith("grad")})
    rows = [[f"`{name}`", f"`{entry.get('config', 'whole network')}`", f"{entry['forward']:.2g}",
             *(f"{entry[k]:.2g}" if k in entry else "" for k in grads)]
            for name, entry in v["layers"].items()]
    verdict = "passed" if v["passed"] else "FAILED"
    c = v["commutativity"]
    return "\n\n".join([
        "## Our ops against PyTorch's",
        f"Max absolute differences on {v['batches']} real training batches of {v['batch_size']} "
        f"(float32), custom minus torch with the same weights: forward {verdict} the "
        f"assignment's bar of {v['tolerance']:g} (worst {v['max_forward_diff']:.2g}).",
        _table(["layer", "configuration", "forward", *grads], rows),
        _float64_note(v["layers"]),
        "## Does ReLU commute with max-pooling? With a convolution?",
        f"On a seeded `{c['input_shape']}` tensor uniform in [-1, 1]: "
        f"`{c['pool']['layer']}` then ReLU vs ReLU then pooling differ by at most "
        f"**{c['pool']['max_abs_diff']:.3g}**; with `{c['conv']['layer']}` in place of the "
        f"pooling the two orders differ by up to **{c['conv']['max_abs_diff']:.3g}** (mean "
        f"{c['conv']['mean_abs_diff']:.3g}, at {100 * c['conv']['fraction_differing']:.0f}% of "
        "the positions).",
        f"![Commutativity experiment]({plots}/commutativity.png)",
        COMMUTATIVITY_EXPLANATION.strip(),
    ])


def _float64_note(layers: dict[str, Any]) -> str:
    """Gradient gaps put in scale: both implementations' distance to a float64 reference."""
    ours = max(e.get("float64_error_custom", 0.0) for e in layers.values())
    theirs = max(e.get("float64_error_torch", 0.0) for e in layers.values())
    return ("The gradient gaps are float32 rounding, not errors: against the same computation in "
            f"float64, our layers are off by at most {ours:.2g} and PyTorch's by at most "
            f"{theirs:.2g}. Summed over a whole batch, a weight gradient can therefore miss "
            "`torch.testing.assert_close`'s float32 tolerance against PyTorch on either side.")


def tuning_section(m: dict[str, Any], plots: str) -> str:
    """What the search found and how the winner trained."""
    t = m["tune"]
    rows = [[f"`{k}`", f"`{v}`"] for k, v in t["best_params"].items()]
    return "\n\n".join([
        "## Tuning (bonus)",
        f"Optuna ran {t['trials_run']} trials ({t['trials_complete']} complete, "
        f"{t['trials_pruned']} pruned on their per-epoch validation loss); the best, trial "
        f"{t['best_trial']}{BASELINE_NOTE if t['best_is_baseline'] else ''}, reached "
        f"a validation loss of {t['search_best_val_loss']:.4f} in its short run. Retrained for "
        f"{_plural(t['final_epochs'], 'epoch')} on the whole training split, its best epoch "
        f"({t['best_epoch']}) "
        f"reached a validation loss of {t['best_val_loss']:.4f} and accuracy "
        f"{t['best_val_accuracy']:.4f}, at {t['seconds_per_epoch']:.1f} s per epoch.",
        _table(["hyperparameter", "chosen"], rows),
        f"![Optimisation history]({plots}/tune_history.png)",
    ])


def test_section(m: dict[str, Any], plots: str) -> str:
    """Test-set statistics of the tuned network, the hardest class and why."""
    t = m["test"]
    hard = t["hardest_class"]
    rows = [[name, f"{pc['precision']:.4f}", f"{pc['recall']:.4f}"]
            for name, pc in t["per_class"].items()]
    rows.append(["**macro average**", f"{t['macro_precision']:.4f}", f"{t['macro_recall']:.4f}"])
    others = ", ".join(f"{impl} {s['accuracy']:.4f}"
                       for impl, s in t["assignment_networks"].items())
    return "\n\n".join([
        "## Test set (touched only here)",
        f"Tuned network: accuracy **{t['accuracy']:.4f}**, macro precision "
        f"{t['macro_precision']:.4f}, macro recall {t['macro_recall']:.4f} on "
        f"{sum(1 for _ in t['per_class'])} classes. The assignment networks, for comparison: "
        f"{others}.",
        _table(["class", "precision", "recall"], rows),
        f"![Confusion matrix, recall and precision]({plots}/stats.png)",
        _hardest(hard),
    ])


def _hardest(hard: dict[str, Any]) -> str:
    """The hardest class, what it is confused with in both directions, and why."""
    def listing(rows: list[dict[str, Any]]) -> str:
        return ", ".join(f"{r['class']} ({r['count']})" for r in rows) or "no other class"

    text = (f"The hardest class is **{hard['name']}** (recall {hard['recall']:.4f} of "
            f"{hard['samples']} samples). Its samples are most often taken for "
            f"{listing(hard['mistaken_for'])}; in the other direction, the samples most often "
            f"predicted as {hard['name']} are {listing(hard['taken_for_it'])}.")
    confused = {hard["name"], *(r["class"] for r in hard["mistaken_for"][:2])}
    if confused <= UPPER_BODY:
        text += (" These are upper-body garments of the same outline: at 28x28 grey levels what "
                 "tells them apart is collars, buttons, sleeve length and texture, details a "
                 "few pixels wide, which downsampling in the network blurs first.")
    return text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def build_report(metrics_dir: str | Path, plots: str) -> str:
    """The whole report; `plots` is the figures' folder relative to the report."""
    m = load_metrics(metrics_dir)
    sections = [data_section, ops_section, losses_section, tuning_section, test_section]
    head = ("# Fashion-MNIST: report\n\nGenerated by the `report` stage from the pipeline's "
            "metrics and figures; `dvc repro` rewrites it whenever they change.")
    return "\n\n".join([head, *(section(m, plots) for section in sections)]) + "\n"
