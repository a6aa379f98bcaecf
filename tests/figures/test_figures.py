"""Every figure: built from values without pyplot, validated, labelled as people read them."""

import io
import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fmnist.analysis.commutativity import commutativity_experiment
from fmnist.data.classes import CLASS_NAMES
from fmnist.figures.data import batch_figure, class_samples_figure
from fmnist.figures.evaluation import plot_stats
from fmnist.figures.ops import commutativity_figure
from fmnist.figures.training import losses_figure
from fmnist.figures.tuning import history_figure
from tests.conftest import NAMES, hand_made, onehot

ROOT = Path(__file__).resolve().parents[2]


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def texts(fig: Figure) -> str:
    """Every title, label, tick label and legend entry of the figure, joined."""
    parts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return "\n".join(p for p in parts if p)


def test_no_figure_goes_through_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_stats(*hand_made(), class_names=NAMES)
    losses_figure({"custom": {"train_loss": [1, 0.5], "val_loss": [1, 0.6]},
                   "torch": {"train_loss": [1, 0.5], "val_loss": [1, 0.6]}})
    assert plt.get_fignums() == before  # nothing left open in pyplot's registry


def test_plot_stats_returns_the_stats_figure():
    fig = plot_stats(*hand_made(), class_names=NAMES)
    assert isinstance(fig, Figure) and png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
    words = texts(fig)
    assert "accuracy 0.5000, n = 10" in words
    assert "macro recall 0.4167" in words and "macro precision 0.3333" in words


def test_plot_stats_keeps_both_macro_lines_visible_and_zooms_the_bars():
    rng = np.random.default_rng(0)
    labels = onehot(list(rng.integers(0, 10, 400)), 10)
    predictions = labels.copy()
    predictions[:40] = onehot(list(rng.integers(0, 10, 40)), 10)  # ~90% right
    fig = plot_stats(predictions, labels)
    bars = fig.axes[1]
    lines = [line for line in bars.get_lines() if len(set(line.get_ydata())) == 1]
    assert len(lines) == 2
    assert lines[0].get_linestyle() != lines[1].get_linestyle()
    assert lines[0].get_color() != lines[1].get_color()
    assert bars.get_ylim()[0] > 0.5  # zoomed to where the classes differ
    assert [t.get_text() for t in bars.get_xticklabels()] == list(CLASS_NAMES)


@pytest.mark.parametrize(
    ("predictions", "labels", "message"),
    [
        (onehot([0, 1]).ravel(), onehot([0, 1]), "must be 2-D"),
        (onehot([0, 1]), onehot([0, 1, 2]), "differ in shape"),
        (onehot([0, 1], 4), onehot([0, 1], 4), "4 columns but there are 3 class names"),
        (np.array([[1, 1, 0], [0, 1, 0]]), onehot([0, 1]), "predictions must be one-hot rows, "
                                                           r"row 0 is \[1, 1, 0\]"),
        (onehot([0, 1]), np.array([[1, 0, 0], [0, 0, 0]]), "labels must be one-hot rows, "
                                                           r"row 1 is \[0, 0, 0\]"),
        (np.array([[1.0, 0, 0], [0.5, 0.5, 0]]), onehot([0, 1]), r"row 1 is \[0.5, 0.5, 0.0\]"),
        (np.array([[np.nan, 1, 0]]), onehot([1]), r"row 0 is \[nan, 1.0, 0.0\]"),
        (torch.eye(3), onehot([0, 1, 2]), "must be a numpy array, got Tensor"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "no samples"),
    ],
)
def test_plot_stats_rejects_bad_inputs(predictions, labels, message):
    with pytest.raises(ValueError, match=f"^plot_stats: .*{message}"):
        plot_stats(predictions, labels, class_names=NAMES)


def test_other_k_gets_numbered_class_names():
    fig = plot_stats(*hand_made())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1", "2"]


def test_losses_figure_shows_the_gap_the_overlay_hides():
    torch_run = {"train_loss": [1.0, 0.5, 0.4], "val_loss": [0.9, 0.6, 0.5]}
    custom_run = {"train_loss": [1.0001, 0.5, 0.4002], "val_loss": [0.9, 0.6003, 0.5]}
    fig = losses_figure({"custom": custom_run, "torch": torch_run})
    overlay, gap = fig.axes
    labels = [line.get_label() for line in overlay.get_lines()]
    assert labels == ["custom train", "custom val", "torch train", "torch val"]
    colours = {line.get_label().split()[0]: line.get_color() for line in overlay.get_lines()}
    assert colours["custom"] != colours["torch"]
    train_gap = [line for line in gap.get_lines() if line.get_label().startswith("train")][0]
    assert list(train_gap.get_ydata()) == pytest.approx([1e-4, 0.0, 2e-4], abs=1e-9)
    ticks = [t for t in gap.get_xticks() if 1 <= t <= 3]
    assert all(float(t).is_integer() for t in ticks)  # whole epochs, never 1.2, 1.4, ...


def test_data_figures_title_each_image_with_its_class():
    x = torch.rand(30, 1, 28, 28)
    y = torch.nn.functional.one_hot(torch.arange(30) % 10, 10).float()
    words = texts(class_samples_figure(x, y, torch.Generator().manual_seed(0)))
    assert all(name in words for name in CLASS_NAMES)
    assert "16 samples of a training batch" in texts(batch_figure(x[:20], y[:20]))


def test_commutativity_figure_states_the_differences_it_is_given():
    result = commutativity_experiment(0)
    fig = commutativity_figure(result)
    assert len(fig.axes) == 8 + 8  # 2 rows of 4 panels, each with its colour bar
    words = texts(fig)
    assert "|a - b| = 0 everywhere" in words  # pooling commutes
    assert "|a - b|: max" in words  # the convolution does not
    assert "ReLU commutes with max-pooling (top) and does not commute with a convolution" in words
    result["pool"]["relu_then_op"] = result["pool"]["relu_then_op"] + 0.5  # a broken pooling
    result["conv"]["relu_then_op"] = result["conv"]["op_then_relu"]  # a conv that commutes
    words = texts(commutativity_figure(result))
    assert "ReLU does not commute with max-pooling (top) and commutes with a convolution" in words
    assert "|a - b|: max 0.5" in words


def test_history_figure_marks_pruned_trials_and_the_running_best():
    fig = history_figure([(0, 0.5, False), (1, 0.7, True), (2, 0.4, False)],
                         "TPESampler, HyperbandPruner")
    assert fig.axes[0].get_title() == "Optuna search (TPESampler, HyperbandPruner)"
    step = [line for line in fig.axes[0].get_lines() if line.get_label() == "best so far"][0]
    assert list(step.get_ydata()) == [0.5, 0.5, 0.4]
    empty = history_figure([], "RandomSampler, MedianPruner")  # no trial finished: no crash
    assert "MedianPruner" in empty.axes[0].get_title() and not empty.axes[0].get_lines()


def scales(node: object) -> list[dict]:
    """Every vega-lite scale with a domain and a range, anywhere in a spec."""
    if isinstance(node, list):
        return [found for item in node for found in scales(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if {"domain", "range"} <= node.keys() else []
    return own + [found for value in node.values() for found in scales(value)]


def dvc_template_colours() -> dict[str, str]:
    """The colour of each implementation in the interactive plots (.dvc/plots/*.json)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / ".dvc" / "plots").glob("*.json"):
        for scale in scales(json.loads(path.read_text())):
            for label, colour in zip(scale["domain"], scale["range"], strict=False):
                if isinstance(colour, str) and colour.startswith("#") and str(label).split()[0] in (
                        "custom", "torch"):
                    found.setdefault(str(label).split()[0], set()).add(colour.lower())
    assert found.keys() == {"custom", "torch"}
    assert {len(c) for c in found.values()} == {1}, found  # one colour each, in every template
    return {impl: colours.pop() for impl, colours in found.items()}


def test_each_implementation_has_one_colour_in_every_plot():
    run = {"train_loss": [1.0, 0.5], "val_loss": [0.9, 0.6]}
    overlay = losses_figure({"custom": run, "torch": run}).axes[0]
    colours = {line.get_label().split()[0]: {matplotlib.colors.to_hex(line.get_color())}
               for line in overlay.get_lines()}
    assert colours == {impl: {colour} for impl, colour in dvc_template_colours().items()}
