"""The offline plots page and our plot templates, in a real headless Chromium.

A throw-away git+DVC repository gets the project's page template (.dvc/html), plot templates
(.dvc/plots) and dvc.yaml `plots:` section, two commits of different per-epoch logs and
confusion data, then the real `dvc plots diff HEAD~1` and `dvc plots show`. Each page is
loaded behind a recording "proxy": every vega plot must draw its chart, with no error marker
and no request to the network; the labels, ticks and class order must be the ones we chose.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fmnist.data.classes import CLASS_NAMES
from tests import browser

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).parent / "dvc")
TEMPLATE = ROOT / ".dvc" / "html" / "plots.html"
LOSS_SERIES = ["custom train", "custom val", "torch train", "torch val"]
VEGA_PLOTS = {"losses", "loss_gap", "val_accuracy", "confusion"}
GIT_ENV = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "DVC_NO_ANALYTICS": "1"}

pytestmark = pytest.mark.skipif(not Path(browser.CHROMIUM).exists(),
                                reason=f"needs {browser.CHROMIUM} (.ci/run installs chromium)")

# two epochs per run; (commit 1, commit 2)
LOSSES = {
    ("custom", "train"): ([0.70, 0.44], [0.62, 0.40]),
    ("custom", "val"): ([0.48, 0.43], [0.45, 0.41]),
    ("torch", "train"): ([0.7003, 0.4398], [0.6204, 0.3997]),
    ("torch", "val"): ([0.4795, 0.4307], [0.4493, 0.4108]),
}
ACCURACY = {"custom": ([0.82, 0.85], [0.83, 0.86]), "torch": ([0.821, 0.849], [0.829, 0.861]),
            "tuned": ([0.90, 0.93], [0.91, 0.94])}


def run(repo: Path, *args: str) -> str:
    done = subprocess.run(args, cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True,
                          text=True)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def install_plots(repo: Path) -> None:
    """The project's page and plot templates, and its plots.html_template setting."""
    for folder in ("html", "plots"):
        shutil.copytree(ROOT / ".dvc" / folder, repo / ".dvc" / folder, dirs_exist_ok=True)
    run(repo, DVC, "config", "plots.html_template", "html/plots.html")


def confusion_rows(version: int) -> list[dict]:
    """Every class predicted right (version + 1) times, plus a few confusions."""
    rows = [{"actual": c, "predicted": c} for c in CLASS_NAMES for _ in range(version + 1)]
    rows += [{"actual": "Shirt", "predicted": "T-shirt/top"}] * (2 + version)
    rows += [{"actual": "Sneaker", "predicted": "Ankle boot"}]
    return rows


def write_logs(repo: Path, version: int) -> None:
    def tsv(impl: str, field: str, values: list[float]) -> None:
        path = repo / "results" / "live" / impl / "plots" / "metrics" / f"{field}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [f"step\t{field}"] + [f"{i}\t{v}" for i, v in enumerate(values, start=1)]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    for (impl, split), values in LOSSES.items():
        tsv(impl, f"{split}_loss", values[version])
    for impl, values in ACCURACY.items():
        tsv(impl, "val_accuracy", values[version])
    (repo / "results" / "confusion.json").write_text(json.dumps(confusion_rows(version)))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("plots")
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, DVC, "init", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", "dvc init")
    install_plots(repo)
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    vega = [plot for plot in plots if isinstance(plot, dict)]  # the PNGs need no browser
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"plots": vega}, sort_keys=False))
    for version in (0, 1):
        write_logs(repo, version)
        run(repo, "git", "add", "-A")
        run(repo, "git", "commit", "-q", "-m", f"results v{version}")
    return repo


@pytest.fixture(scope="module")
def pages(repo: Path) -> dict[str, Path]:
    run(repo, DVC, "plots", "diff", "HEAD~1", "-o", "diff_out")
    run(repo, DVC, "plots", "show", "-o", "show_out")
    return {"diff": repo / "diff_out" / "index.html", "show": repo / "show_out" / "index.html"}


@pytest.fixture(scope="module")
def rendered(pages: dict[str, Path]) -> dict[str, tuple]:
    out = {}
    for name, index in pages.items():
        with browser.NetworkTrap() as trap:
            dom = browser.render_dom(index, proxy=trap.proxy)
        out[name] = (browser.parse_dom(dom), trap.page_requests(), dom)
    return out


def test_template_has_what_dvc_needs():
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count("{plot_divs}") == 1 and text.count("{refresh_tag}") == 1
    assert "{scripts}" not in text  # DVC would put its CDN <script src> tags there
    assert '<meta charset="utf-8">' in text
    for name in ("vega", "vega-lite", "vega-embed"):
        assert f'data-package="{name}@' in text
        assert (TEMPLATE.parent / f"LICENSE-{name}.txt").is_file()


@pytest.mark.parametrize("page", ["diff", "show"])
def test_page_is_self_contained(pages, page):
    text = pages[page].read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in text and "cdn.jsdelivr.net" not in text
    assert not re.search(r"<script[^>]*\ssrc\s*=", text, re.I)  # no script loaded by URL
    assert set(browser.plot_divs(text)) == VEGA_PLOTS


@pytest.mark.parametrize("page", ["diff", "show"])
def test_every_plot_renders_offline(rendered, pages, page):
    dom, requests, _ = rendered[page]
    assert dom.errors == [], dom.errors
    assert requests == [], f"page needed the network: {requests}"
    for div in browser.plot_divs(pages[page].read_text(encoding="utf-8")):
        assert dom.divs[div]["status"] == "ok", div
        assert dom.divs[div]["charts"] >= 1, f"{div}: no vega <svg>/<canvas>"


def test_our_templates_raise_no_vega_warnings(rendered):
    dom, _, _ = rendered["diff"]
    assert dom.warnings == [], dom.warnings


def test_losses_plot_has_short_labels_and_whole_epochs(rendered):
    dom, _, _ = rendered["diff"]
    assert dom.texts("losses", "X-axis titled 'epoch'", "role-axis-label") == ["1", "2"]
    assert dom.texts("losses", "Symbol legend for stroke color and strokeDash",
                     "role-legend-label") == LOSS_SERIES
    revisions = dom.texts("losses", "Symbol legend titled 'revision'", "role-legend-label")
    assert revisions == ["HEAD~1", "workspace"]


def test_every_panel_orders_the_revisions_alike(rendered):
    dom, _, _ = rendered["diff"]
    for div in ("losses", "loss_gap", "val_accuracy"):
        assert dom.texts(div, "Symbol legend titled 'revision'", "role-legend-label") == [
            "HEAD~1", "workspace"], div
    headers = [t for t in dom.texts("confusion") if t in ("HEAD~1", "workspace")]
    assert headers == ["HEAD~1", "workspace"], dom.divs["confusion"]["texts"][:40]


def test_accuracy_plot_labels_each_network(rendered):
    dom, _, _ = rendered["diff"]
    labels = dom.texts("val_accuracy", "Symbol legend", "role-legend-label")
    assert {"custom", "torch"} <= set(labels)
    assert dom.texts("val_accuracy", "X-axis titled 'epoch'", "role-axis-label") == ["1", "2"]


def test_loss_gap_plot(rendered):
    dom, _, raw = rendered["diff"]
    assert dom.texts("loss_gap", "Symbol legend titled 'split'", "role-legend-label") == [
        "train", "val"]
    # custom - torch of commit 2, epoch 1, train: 0.62 - 0.6204 = -0.4e-3
    assert "epoch: 1; custom − torch (×10⁻³): −0.4; split: train; revision: workspace" in raw


def test_confusion_plot_keeps_class_order_and_names_the_network(rendered):
    dom, _, _ = rendered["diff"]
    assert dom.texts("confusion", "Y-axis titled 'actual class'", "role-axis-label") == list(
        CLASS_NAMES)
    counts = [int(t) for t in dom.texts("confusion", role="role-mark")]
    assert len(counts) == 2 * len(CLASS_NAMES) ** 2  # one matrix per revision
    assert sorted(sum(counts[i:i + 100]) for i in (0, 100)) == sorted(
        len(confusion_rows(v)) for v in (0, 1))
    assert "Tuned network, test-set confusion matrix" in dom.texts("confusion", "Title")


def test_control_dvc_default_page_needs_the_network(repo, tmp_path):
    """Without our template DVC's page loads vega from a CDN: offline it draws nothing, and
    the trap sees the attempt (so the trap does catch a page's requests)."""
    clone = tmp_path / "repo"
    shutil.copytree(repo, clone)
    run(clone, DVC, "config", "--unset", "plots.html_template")
    run(clone, DVC, "plots", "show", "-o", "default_out")
    index = clone / "default_out" / "index.html"
    with browser.NetworkTrap() as trap:
        dom = browser.parse_dom(browser.render_dom(index, proxy=trap.proxy))
    assert "cdn.jsdelivr.net" in trap.hosts()
    assert all(dom.divs[d]["charts"] == 0
               for d in browser.plot_divs(index.read_text(encoding="utf-8")))


def test_error_hook_marks_failures(tmp_path):
    bad_spec = ('<div id = "bad"><script type = "text/javascript">'
                'var spec = {"mark": "no-such-mark", "data": {"values": []}};'
                "vegaEmbed('#bad', spec);</script></div>")
    thrown = '<div id = "boom"><script>throw new Error("boom from a plot div");</script></div>'
    index = tmp_path / "index.html"
    page = TEMPLATE.read_text(encoding="utf-8").replace("{refresh_tag}", "")
    index.write_text(page.replace("{plot_divs}", bad_spec + thrown), encoding="utf-8")
    dom = browser.parse_dom(browser.render_dom(index))
    assert dom.divs["bad"]["status"] == "error"
    assert any(e.startswith("[vegaEmbed #bad]") for e in dom.errors), dom.errors
    assert any("boom from a plot div" in e for e in dom.errors), dom.errors


@pytest.mark.skipif(not (ROOT / "tools" / "plots_template" / "node_modules").is_dir(),
                    reason="npm packages not installed (npm ci in tools/plots_template)")
def test_template_is_reproducible():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "plots_template" / "build.py"),
                           "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
