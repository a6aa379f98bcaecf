"""The report in markdown, from the pipeline's own results: every number comes from them, so the
report stays true when params change. Floats are rounded for reading; tables keep class order."""

from typing import Any

from fmnist.data.classes import CLASS_NAMES
from fmnist.report import prose

# The results the report reads, by name.
RESULTS = ("prepare", "verify_ops", "train_custom", "train_torch", "compare", "tune", "test")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def data_section(m: dict[str, Any], plots: str) -> str:
    """Sample counts per split and class, and the two data figures."""
    splits = [name for name in ("train", "val", "test") if name in m["prepare"]]
    rows = [[cls, *(m["prepare"][s]["per_class"][cls] for s in splits)] for cls in CLASS_NAMES]
    rows.append(["**all**", *(m["prepare"][s]["samples"] for s in splits)])
    return "\n\n".join([
        "## Data",
        _table(["class", *splits], rows),
        f"![One sample per class]({plots}/class_samples.png)",
        f"![Samples of one training batch]({plots}/batch_samples.png)",
    ])


def ops_section(m: dict[str, Any], plots: str) -> str:
    """The equivalence table of our ops against PyTorch's, and the commutativity experiment."""
    v = m["verify_ops"]
    grads = ("grad_input", "grad_weight", "grad_bias")
    rows = [[f"`{e['layer']}`", f"`{e['config']}`", f"{e['forward']:.2g}", *_errors(e, grads)]
            for e in v["layers"] if "config" in e]
    net = next(e for e in v["layers"] if e["layer"] == "network")
    for conv in sorted({k.split("_")[1] for k in net if k.startswith("grad_")}):
        rows.append(["`network`", f"loss, w.r.t. {conv}", f"{net['forward']:.2g}", "",
                     *_errors(net, (f"grad_{conv}_weight", f"grad_{conv}_bias"))])
    c = v["commutativity"]
    verdict = "passed" if v["passed"] else f"FAILED ({'; '.join(v['failures'])})"
    return "\n\n".join([
        "## Our ops against PyTorch's",
        f"On {v['batches']} real training batches of {v['batch_size']} (float32, {v['device']}), "
        f"with the same weights. Forward: max |custom - torch|, bar {v['tolerance']:g} (the "
        "assignment's). Gradients: error against the same function computed by PyTorch in "
        "float64, relative to the gradient's largest entry, ours / torch's; ours must have a "
        f"{v['grad_rule']}: summing in another order may cost a few times torch's rounding, a "
        "wrong backward costs orders of magnitude more (a factor off by 1% is 1e-2), and in the "
        "network float32 rounding can move a pooling maximum, and its gradient, to another "
        f"pixel. Verdict: {verdict}.",
        _table(["layer", "configuration", "forward", *grads], rows),
        "## Does ReLU commute with max-pooling? With a convolution?",
        f"On a seeded `{c['input_shape']}` tensor uniform in [-1, 1]: "
        f"`{c['pool']['layer']}` then ReLU vs ReLU then pooling differ by at most "
        f"**{c['pool']['max_abs_diff']:.3g}**; with `{c['conv']['layer']}` in place of the "
        f"pooling the two orders differ by up to **{c['conv']['max_abs_diff']:.3g}** (mean "
        f"{c['conv']['mean_abs_diff']:.3g}, at {100 * c['conv']['fraction_differing']:.0f}% of "
        "the positions).",
        f"![Commutativity experiment]({plots}/commutativity.png)",
        prose.commutativity_explanation(c["pool"]["max_abs_diff"], c["conv"]["max_abs_diff"]),
    ])


def _errors(entry: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    """Each gradient's relative error against float64 as `ours / torch's`, blank if none."""
    return [f"{entry[k]['custom']:.1e} / {entry[k]['torch']:.1e}" if k in entry else ""
            for k in keys]


def losses_section(m: dict[str, Any], plots: str, timings: str) -> str:
    """The two implementations' training compared, with an account of their differences."""
    rows = [[impl, t["best_epoch"], f"{t['best_val_loss']:.4f}", f"{t['val_accuracy']:.4f}"]
            for impl, t in (("custom", m["train_custom"]), ("torch", m["train_torch"]))]
    c, v, device = m["compare"], m["verify_ops"], m["train_torch"]["device"]
    # the arithmetic that differs: torch's backend, if verify_ops ran on the trainings' device
    same = v["device"] == device and m["train_custom"]["device"] == device
    backend = v["torch_backend"] if same else "its own kernels"
    gaps = (f"the largest per-epoch gap is {c['train_loss']['max_abs_diff']:.2g} in training "
            f"loss, {c['val_loss']['max_abs_diff']:.2g} in validation loss and "
            f"{c['val_accuracy']['max_abs_diff']:.2g} in validation accuracy")
    exact = all(c[k]["max_abs_diff"] == 0 for k in ("train_loss", "val_loss", "val_accuracy"))
    growth = ("Here they stayed below the logged precision of 1e-6: " if exact else
              "Those rounding differences grow through thousands of SGD steps, so the curves "
              "agree closely but not bit for bit: ")
    return "\n\n".join([
        "## Training the assignment network twice",
        _table(["implementation", "best epoch", "best val loss", "val accuracy (best epoch)"],
               rows),
        f"![Loss curves]({plots}/losses.png)",
        f"{prose.differences(backend, device)} {growth}{gaps}.",
        prose.speed_note(timings),
    ])


def tuning_section(m: dict[str, Any], plots: str) -> str:
    """What the search found and how the winner trained."""
    t = m["tune"]
    rows = [[f"`{k}`", f"`{v:.4g}`" if isinstance(v, float) else f"`{v}`"]  # 4 digits to read
            for k, v in t["best_params"].items()]
    return "\n\n".join([
        "## Tuning (bonus)",
        f"{_search(t)} {_final_training(t)}",
        _table(["hyperparameter", "chosen"], rows),
        f"![Optimisation history]({plots}/tune_history.png)",
    ])


def _search(t: dict[str, Any]) -> str:
    """What the search ran and which trial won."""
    if t["trials_run"] == 1 and t["best_is_baseline"]:
        return ("The search ran only its baseline, trial 0 (`tune.trials: 1`, the default on a "
                "CPU, where the minutes buy more as final epochs); its short run reached a "
                f"validation loss of {t['search_best_val_loss']:.4f}.")
    return (f"Optuna ran {_plural(t['trials_run'], 'trial')} ({t['trials_complete']} complete, "
            f"{t['trials_pruned']} pruned on their per-epoch validation loss); the best, trial "
            f"{t['best_trial']}{prose.BASELINE_NOTE if t['best_is_baseline'] else ''}, reached "
            f"a validation loss of {t['search_best_val_loss']:.4f} in its short run.")


def _final_training(t: dict[str, Any]) -> str:
    """How the winner was retrained and what the validation split says of it, if anything."""
    epochs = _plural(t["final_epochs"], "epoch")
    if t.get("final_data", "train") == "train":
        return (f"Retrained for {epochs} on the whole training split, its best epoch "
                f"({t['best_epoch']}) reached a validation loss of {t['best_val_loss']:.4f} and "
                f"accuracy {t['best_val_accuracy']:.4f}.")
    return (f"Retrained for {epochs} on the training and validation splits together, once every "
            "choice was made, it keeps its last epoch; the validation split, trained on, no "
            "longer measures it: the test set below does.")


def test_section(m: dict[str, Any], plots: str) -> str:
    """Test-set statistics of the tuned network, the hardest class and why."""
    t = m["test"]["tuned"]
    rows = [[r["class"], f"{r['precision']:.4f}", f"{r['recall']:.4f}"] for r in t["per_class"]]
    rows.append(["**macro average**", f"{t['macro_precision']:.4f}", f"{t['macro_recall']:.4f}"])
    others = ", ".join(f"{impl} {m['test'][impl]['accuracy']:.4f}" for impl in ("custom", "torch"))
    return "\n\n".join([
        "## Test set (touched only here)",
        f"Tuned network: accuracy **{t['accuracy']:.4f}**, macro precision "
        f"{t['macro_precision']:.4f}, macro recall {t['macro_recall']:.4f} on "
        f"{len(t['per_class'])} classes. The assignment networks, for comparison: {others}.",
        _table(["class", "precision", "recall"], rows),
        f"![Confusion matrix, recall and precision]({plots}/stats.png)",
        _hardest(t["hardest_class"]),
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
    return text + (prose.UPPER_BODY_NOTE if confused <= prose.UPPER_BODY else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def build_report(m: dict[str, Any], plots: str, timings: str) -> str:
    """The whole report from the RESULTS by name; `plots`, `timings`: folders relative to it."""
    head = ("# Fashion-MNIST: report\n\nGenerated by the `report` stage from the pipeline's "
            "results and figures; `dvc repro` rewrites it whenever they change.")
    sections = [head, data_section(m, plots), ops_section(m, plots),
                losses_section(m, plots, timings), tuning_section(m, plots), test_section(m, plots)]
    return "\n\n".join(sections) + "\n"
