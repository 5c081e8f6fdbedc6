"""A minimal W3C WebDriver client over HTTP for Debian's chromium + chromedriver.

Just what the browser tests need (open a page, wait for text, read it, screenshot), with the
standard library only: no Selenium dependency and no browser download.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# As root on a closed network: no sandbox, no GPU, and nothing that phones home (without
# the background-networking flags Chromium's refused connections pile up).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return (
                f"{path} not found: install Debian's browser and driver with "
                "`apt-get install -y chromium chromium-driver`"
            )
    return None


class Browser:
    """One headless Chromium session driven by chromedriver on a local port."""

    def __init__(self, port: int, profile: Path, log: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.session: str | None = None
        self._log = open(log, "ab")  # noqa: SIM115 - the driver owns it until close()
        self._driver = subprocess.Popen(
            [CHROMEDRIVER, f"--port={port}"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"],
                    },
                }
            }
        }
        try:
            self._wait_ready()
            self.session = self._call("POST", "/session", caps)["sessionId"]
        except BaseException:
            self.close()  # never leave the driver behind
            raise

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._call("GET", "/status")["ready"]:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError("chromedriver did not become ready")

    def _call(self, method: str, path: str, body: dict | None = None):
        """A WebDriver command: within the session once there is one."""
        url = self.base + (f"/session/{self.session}" if self.session else "") + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"webdriver {method} {path}: {exc.read()[:500]!r}") from None

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def text(self) -> str:
        return self._call(
            "POST", "/execute/sync", {"script": "return document.body.innerText", "args": []}
        )

    def wait_for_text(self, needles: list[str], timeout: float = 45.0) -> str:
        """The page's visible text once every needle shows (JS apps render late)."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(n in text for n in needles):
                return text
            time.sleep(0.5)
        absent = [n for n in needles if n not in text]
        raise AssertionError(
            f"not on the page after {timeout:.0f} s: {absent}; page text starts: {text[:600]!r}"
        )

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))
        return path

    def close(self) -> None:
        if self.session:
            with contextlib.suppress(OSError, RuntimeError):
                self._call("DELETE", "")
        self._driver.terminate()
        try:
            self._driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._driver.kill()
        self._log.close()
