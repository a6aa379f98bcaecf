#!/usr/bin/env python3
"""Build a self-contained (offline) HTML page template for `dvc plots show/diff`.

dvc-render fills a page template with plain ``str.replace`` of three placeholders
(dvc_render/html.py, ``HTML.embed``): ``{plot_divs}`` (mandatory), ``{scripts}`` and
``{refresh_tag}`` (optional). Each vega plot div carries an inline
``vegaEmbed('#id', spec)`` call, and ``{scripts}`` receives three ``<script src=
"https://cdn.jsdelivr.net/...">`` tags (dvc_render/vega.py, ``VegaRenderer.SCRIPTS``).

This template therefore
  * inlines the minified UMD builds of vega, vega-lite and vega-embed (exact versions
    pinned by tools/plots_template/package.json + package-lock.json) in <head>,
  * deliberately has NO ``{scripts}`` placeholder, so DVC's CDN tags are dropped,
  * keeps ``{refresh_tag}`` (dvclive's live-refresh page uses it) and ``{plot_divs}``,
  * declares ``<meta charset="utf-8">``,
  * installs an error hook: a script error, a failed resource, an unhandled promise
    rejection, a ``console.error`` or a rejected ``vegaEmbed`` call adds a visible
    ``<pre class="plot-error">`` to the DOM; every vega div gets
    ``data-plot-status="ok"|"error"``; vega/vega-lite warnings (console.warn) are kept
    as hidden ``<pre class="plot-warning">`` elements, so that a headless browser's
    ``--dump-dom`` shows what happened.

Standard library only; output is a pure function of the installed packages (no
timestamps). Usage:

    python tools/plots_template/build.py            # build .dvc/html/plots.html
    python tools/plots_template/build.py --install  # first `npm ci` here
    python tools/plots_template/build.py --check    # exit 1 if the output is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SRC = HERE  # package.json and package-lock.json; `npm ci` puts node_modules/ here
DEFAULT_OUT = HERE.parents[1] / ".dvc" / "html" / "plots.html"  # `plots.html_template` in .dvc

# package name -> (minified UMD build inside the package, global it must define)
PACKAGES = {
    "vega": ("build/vega.min.js", "vega"),
    "vega-lite": ("build/vega-lite.min.js", "vegaLite"),
    "vega-embed": ("build/vega-embed.min.js", "vegaEmbed"),
}
# The vega npm tarball ships no LICENSE file (its package.json says BSD-3-Clause); the
# same-release sub-packages of the vega monorepo carry the monorepo's LICENSE text.
VEGA_LICENSE_FALLBACKS = ("vega-view", "vega-parser", "vega-runtime")

# Placeholders that dvc_render/html.py replaces (HTML.embed). The vendored JS must not
# contain any of them, or DVC would splice plot markup into the middle of a library.
DVC_PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")

ERROR_HOOK_JS = r"""
(function () {
  "use strict";
  var origError = console.error, origWarn = console.warn;
  function container(target) {
    return target || document.body || document.documentElement;
  }
  function note(cls, where, message, target, hidden) {
    var el = document.createElement("pre");
    el.className = cls;
    if (hidden) { el.hidden = true; } else { el.setAttribute("role", "alert"); }
    el.setAttribute("data-source", where);
    el.textContent = "[" + where + "] " + String(message);
    container(target).appendChild(el);
    return el;
  }
  function describe(x) {
    if (x && x.stack) { return String(x.stack); }
    if (x && x.message) { return String(x.message); }
    try { return typeof x === "string" ? x : JSON.stringify(x); } catch (e) { return String(x); }
  }
  window.dvcPlotError = function (where, err, target) {
    return note("plot-error", where, describe(err), target, false);
  };
  window.addEventListener("error", function (ev) {
    if (ev instanceof ErrorEvent) {
      var at = ev.filename ? " (" + ev.filename + ":" + ev.lineno + ")" : "";
      window.dvcPlotError("script", (ev.error ? describe(ev.error) : ev.message) + at);
    } else if (ev.target && ev.target !== window) {
      var t = ev.target;
      window.dvcPlotError("resource", (t.tagName || "?") + " failed to load: " + (t.src || t.href || ""));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (ev) {
    window.dvcPlotError("promise", describe(ev.reason));
  });
  console.error = function () {
    window.dvcPlotError("console.error", Array.prototype.map.call(arguments, describe).join(" "));
    return origError.apply(console, arguments);
  };
  console.warn = function () {
    note("plot-warning", "console.warn", Array.prototype.map.call(arguments, describe).join(" "), null, true);
    return origWarn.apply(console, arguments);
  };
})();
""".strip()

EMBED_WRAPPER_JS = r"""
(function () {
  "use strict";
  if (typeof window.vegaEmbed !== "function" || !window.vega || !window.vegaLite) {
    window.dvcPlotError("load", "vega, vega-lite or vega-embed did not load");
    return;
  }
  var embed = window.vegaEmbed;
  // Defaults for DVC's inline `vegaEmbed('#id', spec)` calls: crisp SVG, and no
  // "Open in Vega Editor" action (it needs the network).
  var DEFAULTS = {renderer: "svg", actions: {export: true, source: true, compiled: true, editor: false}};
  function wrapped(el, spec, opts) {
    var target = typeof el === "string" ? document.querySelector(el) : el;
    var done;
    try {
      done = embed(el, spec, Object.assign({}, DEFAULTS, opts || {}));
    } catch (err) {
      done = Promise.reject(err);
    }
    var result = Promise.resolve(done).then(function (res) {
      if (target) { target.setAttribute("data-plot-status", "ok"); }
      return res;
    }, function (err) {
      if (target) { target.setAttribute("data-plot-status", "error"); }
      window.dvcPlotError("vegaEmbed " + (typeof el === "string" ? el : ""), err, target);
      throw err;
    });
    result.catch(function () {});  // reported above; no second "unhandledrejection"
    return result;
  }
  Object.keys(embed).forEach(function (k) { wrapped[k] = embed[k]; });
  window.vegaEmbed = wrapped;
})();
""".strip()

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 16px; }
table { border-spacing: 15px; }
.vega-embed { margin: 0 24px 24px 0; vertical-align: top; }
.plot-error { color: #9b1c1c; background: #fde8e8; border: 1px solid #f8b4b4; padding: 6px 8px; white-space: pre-wrap; font-size: 12px; }
""".strip()

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{refresh_tag}}
<title>DVC plots</title>
<!-- Self-contained DVC plots page: {versions}.
     Built by tools/plots_template/build.py; licenses (BSD-3-Clause) in the LICENSE-*.txt files next to this file.
     Deliberately no "scripts" placeholder: DVC would put its CDN <script src> tags there. -->
<style>
{css}
</style>
<script>
{error_hook}
</script>
{vendor_scripts}
<script>
{embed_wrapper}
</script>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


class BuildError(RuntimeError):
    pass


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def pinned_versions(src: Path) -> dict[str, str]:
    """Exact versions from package.json, cross-checked against package-lock.json."""
    manifest = _read_json(src / "package.json")
    lock = _read_json(src / "package-lock.json")
    versions = {}
    for name in PACKAGES:
        wanted = manifest.get("dependencies", {}).get(name)
        if not wanted or not wanted[0].isdigit():
            raise BuildError(f"package.json must pin {name} to an exact version, got {wanted!r}")
        locked = lock.get("packages", {}).get(f"node_modules/{name}", {}).get("version")
        if locked != wanted:
            raise BuildError(f"{name}: package.json pins {wanted}, package-lock.json has {locked}")
        versions[name] = wanted
    return versions


def installed_ok(src: Path, versions: dict[str, str]) -> bool:
    for name, version in versions.items():
        pkg = src / "node_modules" / name / "package.json"
        if not pkg.is_file() or _read_json(pkg).get("version") != version:
            return False
    return True


def npm_ci(src: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm not found; run `npm ci` in tools/plots_template/ first")
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=src, check=True)


def vendor_script(src: Path, name: str, version: str) -> tuple[str, str]:
    rel, global_name = PACKAGES[name]
    path = src / "node_modules" / name / rel
    code = path.read_text(encoding="utf-8")
    lowered = code.lower()
    # Inline-script hazards: "</script" ends the element, "<!--" can switch the HTML
    # parser into the script-data-escaped state.
    for hazard in ("</script", "<!--"):
        if hazard in lowered:
            raise BuildError(f"{path} contains {hazard!r}; cannot inline it verbatim")
    for placeholder in DVC_PLACEHOLDERS:
        if placeholder in code:
            raise BuildError(f"{path} contains DVC placeholder {placeholder!r}")
    if global_name not in code:
        raise BuildError(f"{path} does not look like the UMD build defining {global_name}")
    digest = hashlib.sha256(code.encode("utf-8")).hexdigest()
    tag = (f'<script data-package="{name}@{version}" data-sha256="{digest}">\n'
           f"{code.rstrip()}\n</script>")
    return tag, digest


def license_text(src: Path, name: str, version: str) -> str:
    pkg_dir = src / "node_modules" / name
    for candidate in ("LICENSE", "LICENSE.txt", "LICENSE.md", "license"):
        if (pkg_dir / candidate).is_file():
            return (pkg_dir / candidate).read_text(encoding="utf-8")
    if name == "vega":
        declared = _read_json(pkg_dir / "package.json").get("license")
        for sibling in VEGA_LICENSE_FALLBACKS:
            sib = src / "node_modules" / sibling / "LICENSE"
            if sib.is_file():
                sib_version = _read_json(sib.parent / "package.json").get("version")
                return (f"[The vega@{version} npm package ships no LICENSE file; package.json "
                        f"declares {declared}. Text below copied from {sibling}@{sib_version}, "
                        f"a package of the same vega monorepo (github.com/vega/vega).]\n\n"
                        + sib.read_text(encoding="utf-8"))
    raise BuildError(f"no LICENSE file found for {name}")


def build(src: Path) -> tuple[str, dict[str, str], dict[str, str]]:
    versions = pinned_versions(src)
    if not installed_ok(src, versions):
        raise BuildError(f"node_modules in {src} missing or not at the pinned versions; "
                         "run with --install (npm ci)")
    tags, digests = [], {}
    for name, version in versions.items():
        tag, digests[name] = vendor_script(src, name, version)
        tags.append(tag)
    licenses = {name: license_text(src, name, versions[name]) for name in versions}
    html = PAGE.format(
        versions=", ".join(f"{n}@{v}" for n, v in versions.items()),
        css=CSS,
        error_hook=ERROR_HOOK_JS,
        vendor_scripts="\n".join(tags),
        embed_wrapper=EMBED_WRAPPER_JS,
    )
    for placeholder in ("{plot_divs}", "{refresh_tag}"):
        if html.count(placeholder) != 1:
            raise BuildError(f"template must contain {placeholder} exactly once")
    if "{scripts}" in html:
        raise BuildError("template must not contain {scripts}")
    return html, licenses, digests


def outputs(out: Path, html: str, licenses: dict[str, str]) -> dict[Path, str]:
    files = {out: html}
    for name, text in licenses.items():
        files[out.parent / f"LICENSE-{name}.txt"] = text
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC,
                        help="folder with package.json, package-lock.json, node_modules/")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="template file to write")
    parser.add_argument("--install", action="store_true", help="run `npm ci` in --src first")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if --out or a license file differs")
    args = parser.parse_args(argv)

    try:
        if args.install:
            npm_ci(args.src)
        html, licenses, digests = build(args.src)
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    files = outputs(args.out, html, licenses)
    if args.check:
        stale = [p for p, text in files.items()
                 if not p.is_file() or p.read_text(encoding="utf-8") != text]
        for p in stale:
            print(f"stale: {p}", file=sys.stderr)
        return 1 if stale else 0

    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    size = args.out.stat().st_size
    for name, digest in digests.items():
        print(f"{name}: sha256 {digest}")
    print(f"wrote {args.out} ({size} bytes, {size / 1024:.0f} KiB) + {len(licenses)} license files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
