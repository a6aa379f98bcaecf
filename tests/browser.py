"""A real headless Chromium for tests: render a page, and check what its vega plots drew.

render_dom(index_html) -> str      the DOM after the page's scripts ran (--dump-dom)
screenshot(index_html, png)        a PNG of the rendered page
NetworkTrap                        a local "proxy" that records any request the page makes
parse_dom(html) / plot_divs(html)  what each plot div holds; the ids of DVC's vega plot divs
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# Hosts Chromium itself calls in the background (seen: clients2.google.com/time,
# update.googleapis.com, accounts.google.com); nothing a DVC page would load.
BROWSER_SERVICE_SUFFIXES = (".google.com", ".googleapis.com", ".gstatic.com")


# --------------------------------------------------------------------------- browser
class NetworkTrap:
    """A TCP listener used as Chromium's --proxy-server: every http(s)/ws request the
    page (or the browser) tries goes here and is recorded, then refused. Loopback is
    not bypassed (``<-loopback>``), so nothing reaches the network unrecorded."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1.0)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    first = "<no request line>"
                if not first:  # closed unused: a speculative preconnect, no request in it
                    continue
                self.requests.append(first)
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    def hosts(self) -> list[str]:
        """Host of every recorded request ("CONNECT h:443 ..." or "GET http://h/... ")."""
        out = []
        for line in self.requests:
            parts = line.split()
            target = parts[1] if len(parts) > 1 else ""
            if "://" in target:
                target = target.split("://", 1)[1]
            out.append(target.split("/", 1)[0].rsplit(":", 1)[0].lower())
        return out

    def page_requests(self) -> list[str]:
        """Recorded requests except Chromium's own background service calls (network
        time, component updater, account lookups go to Google hosts even with
        --disable-background-networking / --disable-component-update)."""
        return [line for line, host in zip(self.requests, self.hosts(), strict=True)
                if not host.endswith(BROWSER_SERVICE_SUFFIXES)]

    def __enter__(self) -> NetworkTrap:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


def _chromium(args: list[str], *, proxy: str | None, timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        if proxy:
            cmd += [f"--proxy-server={proxy}", "--proxy-bypass-list=<-loopback>"]
        cmd += args
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)


def render_dom(index_html: Path, *, proxy: str | None = None, budget_ms: int = 10000,
               timeout: float = 120) -> str:
    """Load ``index_html`` in headless Chromium and return the DOM after the page's
    scripts ran (``--virtual-time-budget`` lets pending async work finish)."""
    uri = Path(index_html).resolve().as_uri()
    proc = _chromium([f"--virtual-time-budget={budget_ms}", "--dump-dom", uri],
                     proxy=proxy, timeout=timeout)
    return proc.stdout


def screenshot(index_html: Path, png: Path, *, width: int = 1200, height: int = 1600,
               proxy: str | None = None, budget_ms: int = 10000, timeout: float = 120) -> Path:
    uri = Path(index_html).resolve().as_uri()
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _chromium([f"--virtual-time-budget={budget_ms}", f"--window-size={width},{height}",
               "--hide-scrollbars", f"--screenshot={png}", uri], proxy=proxy, timeout=timeout)
    return png


# --------------------------------------------------------------------------- DOM checks
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Collector(HTMLParser):
    """One pass over a DOM dump. Collects, per element id that is a div: the
    ``data-plot-status`` set by the template's vegaEmbed wrapper, how many <svg>/<canvas>
    it holds (``charts``: those with vega's class "marks"), its inline script text, and its
    visible SVG texts as (context, role, text), where context is the aria-label of the
    enclosing vega axis/legend/title group and role the class of the enclosing mark group.
    Also collects the template's
    ``plot-error`` / ``plot-warning`` markers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.divs: dict[str, dict] = {}
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._marker: list | None = None

    def _div(self) -> dict | None:
        for tag, attr in reversed(self.stack):
            if tag == "div" and attr.get("id") in self.divs:
                return self.divs[attr["id"]]
        return None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "div" and a.get("id"):
            self.divs.setdefault(a["id"], {"status": None, "graphics": 0, "charts": 0,
                                           "script": "", "texts": []})
            self.divs[a["id"]]["status"] = a.get("data-plot-status")
        if tag in ("svg", "canvas") and (div := self._div()) is not None:
            div["graphics"] += 1
            if "marks" in classes:  # vega's own chart element (not vega-embed's menu icon)
                div["charts"] += 1
        if "plot-error" in classes or "plot-warning" in classes:
            self._marker = ["error" if "plot-error" in classes else "warning", ""]
        if tag not in VOID:
            self.stack.append((tag, a))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if self._marker and tag == "pre":
            (self.errors if self._marker[0] == "error" else self.warnings).append(self._marker[1])
            self._marker = None
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self._marker is not None:
            self._marker[1] += data
        if not self.stack or (div := self._div()) is None:
            return
        tag = self.stack[-1][0]
        if tag == "script":
            div["script"] += data
        elif tag == "text" and data.strip():
            context = role = None
            for t, attr in reversed(self.stack):
                if t != "g":
                    continue
                if role is None:
                    role = attr.get("class")
                if attr.get("aria-roledescription") in ("axis", "legend", "title"):
                    context = attr.get("aria-label")
                    break
            div["texts"].append((context, role, data.strip()))

    def texts(self, div_id: str, context_prefix: str | None = None,
              role: str | None = None) -> list[str]:
        """Texts drawn inside plot ``div_id`` whose axis/legend/title aria-label starts
        with ``context_prefix`` and/or whose mark group class contains ``role``."""
        return [t for ctx, r, t in self.divs[div_id]["texts"]
                if (context_prefix is None or (ctx or "").startswith(context_prefix))
                and (role is None or role in (r or ""))]


def parse_dom(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    c.close()
    return c


def plot_divs(index_html_text: str) -> list[str]:
    """Ids of the divs in DVC's page that hold a ``vegaEmbed('#id', spec)`` call."""
    c = parse_dom(index_html_text)
    return [i for i, info in c.divs.items() if f"vegaEmbed('#{i}'" in info["script"]]
