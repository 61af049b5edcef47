"""Screenshot of `nlu app`'s search tab for the README: ``docs/app-search.png``.

Builds an index of ``data/corpus.jsonl`` on the embedded MiniLM in a temp folder, serves the
app on a free loopback port, searches it in headless Chromium (the system one, through
Playwright; no browser download), saves the screenshot, and checks that every request the
page made stayed on 127.0.0.1.

    python benchmarks/screenshot_app.py
    python benchmarks/screenshot_app.py --query "when will my parcel arrive" --out /tmp/search.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--query", default="I forgot my password", help="the query typed in the search tab")
    parser.add_argument("--out", default=str(ROOT / "docs" / "app-search.png"), help="PNG to write")
    args = parser.parse_args()
    out = Path(args.out).resolve()

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("screenshot_app: no chromium on PATH (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("screenshot_app: playwright is not installed (pip install -e '.[test]')")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from nlu_toolkit import SemanticIndex, iter_records
    from nlu_toolkit.app.webapp import AppConfig, launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    requests: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        # A relative name, so the page shows `corpus.idx` rather than a temp path.
        os.chdir(tmp)
        SemanticIndex.build(iter_records(ROOT / "data" / "corpus.jsonl")).save("corpus.idx")
        demo, url = launch(AppConfig(index="corpus.idx"), port=port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1100, "height": 720})
                page.on("request", lambda request: requests.append(request.url))
                page.goto(url)
                page.get_by_role("tab", name="Search").click()
                page.locator("#search-query textarea").fill(args.query)
                page.locator("#search-button").click()
                # Results are in when a score cell shows up (the empty table has none).
                page.wait_for_function(
                    "() => /\\d\\.\\d{3}/.test(document.querySelector('#hits').innerText)", timeout=60_000
                )
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            demo.close()
            os.chdir(ROOT)
    outside = sorted({u for u in requests if urlparse(u).hostname not in ("127.0.0.1", "localhost", "::1")})
    if outside:
        sys.exit(f"screenshot_app: the page fetched from outside the machine: {outside}")
    print(f"wrote {out} ({len(requests)} requests, all on loopback)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
