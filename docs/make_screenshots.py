"""Take the README's screenshots again: a real hanzi12 run's report.html and its artifacts in the Prefect UI.

    python docs/make_screenshots.py          # a few minutes: docs/report.png, docs/prefect-artifacts.png,
                                             # docs/prefect-training-report.png

It starts a Prefect server with its UI (a temporary PREFECT_HOME, a free port on 127.0.0.1), runs the main
job against it (``flows/full_pipeline.py --data-dir ../shared/datasets/hanzi12 --group-by stem --epochs 5``
into a temporary folder), opens the run's report.html and the run's pages in the UI in headless Chromium
(Playwright driving the system's chromium, as tests/flows/report/test_browser.py does), saves each as a
palette PNG of at most 300 KB, 1280 px wide (900 high; the run's page 1320, for its Artifacts tab), then
stops the server and deletes the temporary folder.

Needs the dev install (``pip install -e '.[dev]'``: playwright), Debian's chromium and a font with the
display names' glyphs (``apt-get install chromium fonts-wqy-microhei``): without one, the report's names
would show as empty boxes. matplotlib gets a fresh font cache for the run, so a font installed since its
cache was built is seen.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANZI12 = REPO.parent / "shared" / "datasets" / "hanzi12"
VIEWPORT = {"width": 1280, "height": 900}
RUN_PAGE_HEIGHT = 1320  # the run's page: its graph, then the Artifacts tab's cards
MAX_BYTES = 300_000
BROWSERS = ("chromium", "chromium-browser")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=HANZI12, help="the data (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the run (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="where the PNGs go (default: docs/)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (run, server log)")
    args = parser.parse_args(argv)
    chromium = check_prerequisites(args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="mlpflow-shots-"))
    try:
        with prefect_server(work) as api:
            report = run_pipeline(api, work, args.data_dir, args.epochs)
            run_id, report_artifact = latest_run(api)
            take(chromium, report, api.removesuffix("/api"), run_id, report_artifact, args.out)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def check_prerequisites(data_dir: Path) -> str:
    """The path of Chromium; SystemExit naming what to install when something is missing."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright: pip install -e '.[dev]'")
    chromium = next((path for path in map(shutil.which, BROWSERS) if path), None)
    if chromium is None:
        missing.append("chromium: apt-get install chromium")
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False)
    if not fonts.stdout.strip():
        missing.append("a font with Chinese glyphs: apt-get install fonts-wqy-microhei")
    if not (data_dir / "train").is_dir():
        missing.append(f"the data: {data_dir}/train not found (--data-dir)")
    if missing:
        sys.exit("make_screenshots: missing " + "; ".join(missing))
    return chromium


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(work: Path):
    """A Prefect server with its UI on a free port, its home in work/; yields its API URL; stopped after."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect-home"), "PREFECT_UI_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = open(work / "server.log", "wb")  # noqa: SIM115 (closed below, after the server)
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        started = time.monotonic()
        while not healthy(api):
            if server.poll() is not None or time.monotonic() - started > 120:
                raise RuntimeError(f"the Prefect server did not start; see {work / 'server.log'} (--keep)")
            time.sleep(0.5)
        print(f"Prefect server ready in {time.monotonic() - started:.1f} s: {api.removesuffix('/api')}")
        yield api
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the workers it started, nothing else
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def post(api: str, path: str, body: dict) -> list[dict]:
    request = urllib.request.Request(f"{api}/{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def run_pipeline(api: str, work: Path, data_dir: Path, epochs: int) -> Path:
    """Run the main job against the server; the path of its report.html."""
    out = work / "artifacts"
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(work / "prefect-home"),
           "MPLCONFIGDIR": str(work / "matplotlib")}  # a fresh font cache: fonts installed since are seen
    command = [sys.executable, "flows/full_pipeline.py", "--data-dir", str(data_dir), "--group-by", "stem",
               "--epochs", str(epochs), "--output-dir", str(out)]
    print("$", " ".join(command))
    started = time.monotonic()
    subprocess.run(command, cwd=REPO, env=env, check=True)
    print(f"the run took {time.monotonic() - started:.0f} s")
    return (out / "latest" / "report.html").resolve()


def latest_run(api: str) -> tuple[str, str]:
    """The id of the server's newest flow run and of its training-report artifact."""
    (run,) = post(api, "flow_runs/filter", {"sort": "START_TIME_DESC", "limit": 1})
    artifacts = post(api, "artifacts/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    report = next(a for a in artifacts if a["key"] == "training-report")
    return run["id"], report["id"]


def take(chromium: str, report: Path, ui: str, run_id: str, artifact_id: str, out: Path) -> None:
    """Screenshots of the report's top, the run's page in the UI (its graph and Artifacts tab) and the
    training-report artifact as the UI renders it, saved in out/."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    args = ["--disable-dev-shm-usage"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=args)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(report.as_uri(), wait_until="load")
        save_small(page, out / "report.png")

        page.set_viewport_size({"width": VIEWPORT["width"], "height": RUN_PAGE_HEIGHT})
        page.goto(f"{ui}/runs/flow-run/{run_id}", wait_until="networkidle")
        page.get_by_text("Artifacts", exact=True).first.click()  # the run page's tab
        settle(page, "training-report")
        save_small(page, out / "prefect-artifacts.png")

        page.set_viewport_size(VIEWPORT)
        page.goto(f"{ui}/artifacts/artifact/{artifact_id}", wait_until="networkidle")
        settle(page, "Training report:")
        save_small(page, out / "prefect-training-report.png")
        browser.close()


def settle(page, text: str) -> None:
    """Wait until the UI shows `text`, its API calls are done and its transitions over."""
    page.get_by_text(text).first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)


def save_small(page, path: Path) -> None:
    """Save the page's viewport as a palette PNG of at most MAX_BYTES (fewer colours until it fits)."""
    from PIL import Image

    with Image.open(io.BytesIO(page.screenshot())) as image:
        rgb = image.convert("RGB")
    for colours in (256, 128, 64, 32):
        buffer = io.BytesIO()
        rgb.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            buffer, format="PNG", optimize=True)
        if buffer.tell() <= MAX_BYTES:
            break
    path.write_bytes(buffer.getvalue())
    print(f"{path}: {rgb.width}x{rgb.height}, {colours} colours, {buffer.tell() // 1000} KB")


if __name__ == "__main__":
    main()
