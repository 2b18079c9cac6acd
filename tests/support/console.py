"""The ops console served by a real uvicorn in a thread, and a client that logs in."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from tradelane.web import create_app

PASSWORD = "correct horse battery staple"
#: The README's screenshots are rewritten only when asked (`make screenshots`): a test run
#: leaves the checkout as it found it.
SCREENSHOTS = os.environ.get("TRADELANE_SCREENSHOTS")
HEADER = "Order;Qty;Price;ShipDate;Status\n"
BAD_CSV = HEADER + "PO-1;5;9,50;01.12.2026;open\nPO-2;<b>zwei</b>;100;;closed\n"
GOOD_CSV = HEADER + "PO-1;5;9,50;01.12.2026;open\nPO-2;2;100;;closed\n"


class LiveConsole:
    """``create_app`` under uvicorn on a free 127.0.0.1 port, in a thread."""

    def __init__(self, project_dir: Path):
        self.app = create_app(project_dir)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)


def token_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def log_in(client: httpx.Client, password: str = PASSWORD, user: str = "ops") -> httpx.Response:
    token = token_in(client.get("/login").text)
    return client.post("/login", data={"csrf_token": token, "username": user,
                                       "password": password, "next": "/"})


def screenshot_path(name: str, scratch: Path) -> Path:
    """Where a README screenshot goes: docs/ under ``make screenshots``, else ``scratch``."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else scratch
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
