"""Open every page of a built book in headless Chromium and list what a reader would trip over.

    .venv/bin/python tools/check_book.py _build/book/smoke/_build/html [--screenshots DIR]

A page fails when a table or figure is wider than the content column (a results table that scrolls sideways
inside the column is wide by design; any other table or image must fit), when it shows ``NaN``, a traceback,
a raw object repr (``<... object at 0x...>``), a local absolute path, a broken internal link or an image
that does not load. Exits 1 and prints every problem, page by page.

Chromium is driven through its DevTools protocol over a pipe (``--remote-debugging-pipe``: JSON messages
ended by a NUL byte on file descriptors 3 and 4), so the check needs a Chromium (Debian's ``chromium``, which
``make browser`` installs, or Google Chrome: ``find_chromium``) and nothing from PyPI. The tests import
``check_pages`` (``tests/test_notebooks.py``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

#: Where a Chromium is looked for: ``$CHROMIUM``, Debian's package, Ubuntu's, Google Chrome (GitHub's runners).
BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str:
    """The Chromium to drive: ``$CHROMIUM`` when set, else the first of ``BROWSERS`` that exists."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((path for path in BROWSERS if Path(path).exists()), BROWSERS[0])


INSTALL_HINT = "install it with `make browser` (apt-get install chromium)"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe")
VIEWPORT = (1280, 900)  # a laptop screen: the content column is then about 800 px wide
PAGE_TIMEOUT = 60.0
SKIPPED_PAGES = ("genindex.html", "search.html")  # Sphinx's own pages
REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
NAN = re.compile(r"(?<![\w.])(?:NaN|nan)(?!\w)")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w*(?:Error|Exception): ", re.MULTILINE)
LOCAL_PATH = re.compile(r"(?<![\w.~$])/(?:home|root|tmp|Users|private/var|var/folders|work)/[\w.-]")

# Runs in the page: the content column, what is wider than it, the text a reader sees (code cells' and
# markdown's code left out: they show code, not results), every link and image.
PAGE_SCRIPT = r"""
(() => {
  const column = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const style = getComputedStyle(column);
  const box = column.getBoundingClientRect();
  const left = box.left + parseFloat(style.paddingLeft), right = box.right - parseFloat(style.paddingRight);
  const name = (el) => {
    const text = (el.getAttribute('alt') || el.textContent || '').trim().replace(/\s+/g, ' ');
    return el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : '') + ' "' + text.slice(0, 60) + '"';
  };
  const wide = [];
  for (const el of column.querySelectorAll('table, img, svg, figure')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    const byDesign = el.matches('table.results-table') && getComputedStyle(el).overflowX !== 'visible';
    if (r.left < left - 1 || r.right > right + 1)
      wide.push(`${name(el)}: ${Math.round(r.width)} px wide at ${Math.round(r.left - left)} px, the column is ${Math.round(right - left)} px`);
    else if (!byDesign && el.scrollWidth > r.width + 1 && el.tagName === 'TABLE')
      wide.push(`${name(el)}: ${el.scrollWidth} px of content in ${Math.round(r.width)} px`);
  }
  const copy = column.cloneNode(true);
  copy.querySelectorAll('.cell_input, div.highlight, code.literal, script, style')
    .forEach((el) => { if (!el.closest('.cell_output')) el.remove(); });
  document.body.appendChild(copy);  // innerText needs the layout: a hidden copy has none
  copy.style.position = 'absolute'; copy.style.left = '-99999px';
  const text = copy.innerText;
  copy.remove();
  return {
    text: text,
    all_text: document.body.innerText,
    wide: wide,
    tracebacks: column.querySelectorAll('.output.traceback, .output.error').length,
    links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.href),
    images: Array.from(document.querySelectorAll('img')).map((img) => ({src: img.src, ok: img.complete && img.naturalWidth > 0})),
    page_width: document.documentElement.scrollWidth,
    view_width: window.innerWidth,
  };
})()
"""


class Browser:
    """Headless Chromium driven over its DevTools pipe: ``open(url)`` a page, ``evaluate`` JavaScript there,
    ``screenshot`` it. Use as a context manager (Chromium and its profile folder are removed on exit)."""

    def __init__(self, executable: str | None = None, viewport: tuple[int, int] = VIEWPORT):
        executable = executable or find_chromium()
        if not Path(executable).exists():
            raise FileNotFoundError(f"no Chromium at {executable}: {INSTALL_HINT}")
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        high = [os.dup2(commands_read, 1000), os.dup2(replies_write, 1001)]  # out of the way of fds 3 and 4

        def give_chromium_the_pipes() -> None:  # in the child, before exec: its fds 3 and 4 are the pipe
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={viewport[0]},{viewport[1]}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=give_chromium_the_pipes)
        for fd in (commands_read, replies_write, *high):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", {"width": viewport[0], "height": viewport[1],
                                                         "deviceScaleFactor": 1, "mobile": False}, session=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:  # already gone: terminate below
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._commands, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.process.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: bool = False, timeout: float = PAGE_TIMEOUT
             ) -> dict:
        """Send one DevTools command and return its result (events that arrive meanwhile go to ``events``)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def open(self, url: str, timeout: float = PAGE_TIMEOUT) -> None:
        """Load ``url`` and wait for its load event (images included)."""
        self.call("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + timeout
        loaded = f"document.readyState === 'complete' && location.href === {json.dumps(url)}"
        while not self.evaluate(loaded):  # a load event may be the previous page's: ask the page itself
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load in {timeout:.0f} s")
            time.sleep(0.05)
        self.events.clear()

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"the page's script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """The whole page (not only the viewport) as a PNG."""
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path


REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=(?P<target>[^"]+)"', re.IGNORECASE)


def pages(html_dir: Path) -> list[Path]:
    """The book's pages: every HTML file but Sphinx's index and search pages, its static files and the pages
    that only redirect (the book's ``index.html``: ``redirects`` checks where they lead)."""
    return sorted(path for path in html_dir.rglob("*.html")
                  if path.name not in SKIPPED_PAGES and not path.relative_to(html_dir).parts[0].startswith("_")
                  and not REDIRECT.search(path.read_text(errors="replace")[:500]))


def broken_redirects(html_dir: Path) -> dict[str, list[str]]:
    """``{page: [problem]}`` for the redirecting pages whose target does not exist."""
    report = {}
    for path in html_dir.rglob("*.html"):
        match = REDIRECT.search(path.read_text(errors="replace")[:500])
        if match and not (path.parent / match["target"].split("#")[0]).exists():
            report[path.relative_to(html_dir).as_posix()] = [f"redirects to {match['target']}, which does not exist"]
    return report


def anchors(page: Path, cache: dict[Path, set[str]]) -> set[str]:
    if page not in cache:
        cache[page] = set(re.findall(r'\sid="([^"]+)"', page.read_text(errors="replace")))
    return cache[page]


def broken_links(urls: list[str], cache: dict[Path, set[str]]) -> list[str]:
    """The local links (``file://``) whose file does not exist or whose ``#anchor`` is not in it."""
    broken = []
    for url in dict.fromkeys(urls):
        parsed = urlparse(url)
        if parsed.scheme != "file":
            continue
        target = Path(unquote(parsed.path))
        if not target.exists():
            broken.append(f"{url} (no such file)")
        elif parsed.fragment and target.suffix == ".html" and unquote(parsed.fragment) not in anchors(target, cache):
            broken.append(f"{url} (no #{parsed.fragment} in that page)")
    return broken


def problems_of(found: dict, local_folders: list[str]) -> list[str]:
    """What is wrong with one page, from what ``PAGE_SCRIPT`` found there."""
    problems = [f"wider than the content column: {item}" for item in found["wide"]]
    if found["page_width"] > found["view_width"] + 1:
        problems.append(f"the page scrolls sideways ({found['page_width']} px in a {found['view_width']} px window)")
    text = found["text"]
    for label, pattern in (("NaN", NAN), ("a raw object repr", REPR), ("a traceback", TRACEBACK)):
        hits = sorted({match.group(0).strip() for match in pattern.finditer(text)})
        if hits:
            problems.append(f"shows {label}: " + "; ".join(context(text, hit) for hit in hits[:3]))
    if found["tracebacks"]:
        problems.append(f"shows {found['tracebacks']} error output(s)")
    everything = found["all_text"]
    paths = sorted({folder for folder in local_folders if folder and folder in everything})
    paths += sorted({m.group(0) for m in LOCAL_PATH.finditer(everything)})
    if paths:
        problems.append("shows a local absolute path: " + "; ".join(context(everything, p) for p in paths[:3]))
    problems += [f"image does not load: {image['src']}" for image in found["images"]
                 if not image["ok"] and image["src"].startswith("file:")]  # the book's own (the tests run offline)
    return problems


def context(text: str, hit: str, width: int = 50) -> str:
    at = text.find(hit)
    return repr(text[max(0, at - width):at + len(hit) + width].replace("\n", " "))


def check_pages(html_dir: Path, local_folders: list[str] = (), screenshots: Path | None = None,
                executable: str | None = None) -> dict[str, list[str]]:
    """``{page: problems}`` for every page of the book in ``html_dir`` (pages without problems left out).
    ``local_folders``: folders of this machine that no page may name (the repository, the work folder...);
    ``screenshots``: a folder for a full-page PNG of each page."""
    html_dir = Path(html_dir).resolve()
    folders = [str(Path(folder)) for folder in local_folders] + [str(html_dir), str(Path.home())]
    folders = [folder for folder in folders if len(folder) > 1]
    if screenshots:
        screenshots.mkdir(parents=True, exist_ok=True)
    report, cache = broken_redirects(html_dir), {}
    with Browser(executable) as browser:
        for page in pages(html_dir):
            name = page.relative_to(html_dir).as_posix()
            browser.open(page.as_uri())
            found = browser.evaluate(PAGE_SCRIPT)
            problems = problems_of(found, folders) + [f"broken link: {link}"
                                                      for link in broken_links(found["links"], cache)]
            if screenshots:
                browser.screenshot(screenshots / (name.replace("/", "_").removesuffix(".html") + ".png"))
            if problems:
                report[name] = problems
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("html_dir", type=Path, help="the built book's HTML folder (_build/book/<profile>/_build/html)")
    parser.add_argument("--screenshots", type=Path, help="write a full-page PNG of every page here")
    parser.add_argument("--local", action="append", default=[], help="a folder no page may name (repeatable)")
    args = parser.parse_args(argv)
    if not args.html_dir.is_dir():
        sys.exit(f"{args.html_dir} is no folder: build the book first (`make book`)")
    started = time.perf_counter()
    report = check_pages(args.html_dir, [str(Path.cwd().resolve()), *args.local], args.screenshots)
    for page, problems in report.items():
        print(f"{page}:")
        for problem in problems:
            print(f"  - {problem}")
    print(f"{len(pages(args.html_dir))} pages checked in {time.perf_counter() - started:.0f} s; "
          f"{len(report)} with problems")
    if report:
        sys.exit(1)


if __name__ == "__main__":
    main()
