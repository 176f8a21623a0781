"""A real HTTP receiver on 127.0.0.1 for webhook tests, and its fixture (imported by the
webhook test files): each POST is answered with the next scripted status, or (status,
headers), then 200; while `hang` is set a request is held without an answer."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lablift.core import webhooks


class Receiver:
    def __init__(self, script=()):
        self.script = [s if isinstance(s, tuple) else (s, {}) for s in script]
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.hang = threading.Event()
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hang = me.hang.is_set()
                with me.lock:
                    status, headers = (None, {}) if hang else (
                        me.script.pop(0) if me.script else (200, {}))
                    me.requests.append({"path": self.path, "headers": dict(self.headers),
                                        "body": body, "at": time.time(), "status": status})
                if hang:
                    time.sleep(15)  # longer than the sender's 10 s timeout
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    """receiver(script=()) -> a running Receiver; all are closed once deliveries are idle."""
    made = []

    def make(script=()):
        made.append(Receiver(script))
        return made[-1]
    yield make
    webhooks.wait_idle(15)
    for r in made:
        r.close()
