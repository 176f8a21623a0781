"""HTTP/1.1 plumbing of a Lablift bundle's server, whatever the protocol: deadlines on every
read, request bodies (Content-Length or chunked, bounded), one JSON answer per request and a
JSON refusal for every failure (never a traceback). Part of the bundle's runtime (see
serve.py): run only after the integrity check; never imports Lablift.
"""

import io
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler

MAX_BODY_BYTES = 256 * 1024 * 1024

ERROR_CODES = {400: "BAD_REQUEST", 404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
               408: "REQUEST_TIMEOUT", 411: "LENGTH_REQUIRED", 413: "PAYLOAD_TOO_LARGE",
               414: "URI_TOO_LONG", 415: "UNSUPPORTED_MEDIA_TYPE", 431: "HEADERS_TOO_LARGE",
               500: "INTERNAL_ERROR", 501: "NOT_IMPLEMENTED", 505: "HTTP_VERSION_NOT_SUPPORTED"}
MIN_BODY_RATE = 64 * 1024  # bytes/s a body must average (beyond --timeout) to keep its worker
DRAIN_SECONDS = 1.0


def header_value(value, limit: int = 128) -> str:
    """A client-supplied value made safe to echo in a response header: printable ASCII only
    (no CR/LF, so no injected or folded continuation line), whitespace collapsed, capped."""
    text = "".join(c if " " <= c <= "~" else " " for c in str(value))
    return " ".join(text.split())[:limit]


class _DeadlineReader(io.RawIOBase):
    """A connection's reads: none waits longer than `timeout`, and once a request's first byte
    has arrived its head must be complete within `timeout` (a client trickling a byte at a
    time cannot hold a worker); a body gets a budget from its size (extend)."""

    def __init__(self, sock, timeout: float | None):
        self.sock, self.timeout = sock, timeout
        self.deadline = None
        self.received = 0

    def readable(self) -> bool:
        return True

    def arm(self) -> None:  # waiting for a new request: idle time is bounded by `timeout` only
        self.deadline, self.received = None, 0

    def extend(self, seconds: float) -> None:
        if self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout + seconds

    def readinto(self, b) -> int:
        wait = self.timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request took too long to arrive")
            wait = min(wait, left)
        self.sock.settimeout(wait)
        n = self.sock.recv_into(b)
        if n and not self.received and self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout
        self.received += n
        return n



class JsonHandler(BaseHTTPRequestHandler):
    """Transport for the protocol handlers (http_server.make_handler subclasses it)."""

    quiet = True  # no access log: it costs per request

    protocol_version = "HTTP/1.1"  # keep-alive: no TCP handshake per request
    disable_nagle_algorithm = True  # small responses must not wait for delayed ACKs
    server_version = "lablift-serve/1"
    sys_version = ""

    def setup(self):
        super().setup()
        self.rfile.close()  # reads go through the deadline reader instead
        self._raw = _DeadlineReader(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self._raw, 65536)
        self._linger = False

    def log_message(self, fmt, *a):  # access log off by default: it costs per request
        if not self.quiet:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % a))

    def handle_one_request(self):
        # http.server's loop, with every failure answered as JSON (no traceback) and
        # a timeout answered 408 when a request had begun.
        self._t0, self._rid, self._answered = time.perf_counter(), None, False
        self.headers, self.command, self.requestline, self.path = None, None, "", ""
        self.request_version = "HTTP/1.1"
        self._raw.arm()
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            self._t0 = time.perf_counter()
            if len(self.raw_requestline) > 65536:
                self.send_error(414, "the request line is longer than 64 KB")
                return
            if not self.parse_request():
                return
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.send_error(501, f"unsupported method {self.command[:20]!r}: use GET or "
                                     f"POST")
                return
            method()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
            if self._raw.received and not self._answered:
                self._linger = True
                self._refuse(408, f"the request did not arrive in time (--timeout "
                                  f"{self.timeout:g} s)")
        except OSError:  # the client went away
            self.close_connection = True
        except Exception as exc:  # whatever happens, one JSON answer and no traceback
            self.close_connection = True
            if not self._answered:
                self._refuse(500, f"internal error: {type(exc).__name__}")

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        if self._linger:
            self._drain()

    def _drain(self):
        # Unread request bytes at close() make the kernel send a reset, which can destroy
        # the error response before the client reads it: half-close, then read a little.
        import socket
        try:
            self.connection.shutdown(socket.SHUT_WR)
            end, got = time.monotonic() + DRAIN_SECONDS, 0
            while got < (1 << 20):
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.connection.settimeout(left)
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
        except OSError:
            pass

    def _request_id(self) -> str:
        if self._rid is None:
            given = self.headers.get("X-Request-Id") if self.headers is not None else None
            self._rid = (header_value(given) if given else "") or uuid.uuid4().hex
        return self._rid

    def _send(self, status: int, body: bytes, ctype: str = "application/json",
              headers: dict | None = None):
        # One write for status line, headers and body (avoids a second small packet).
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
                 f"Server: {self.server_version}", f"Content-Type: {ctype}",
                 f"Content-Length: {len(body)}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self._answered = True
        try:
            self.connection.settimeout(self.timeout)
            self.wfile.write(head if self.command == "HEAD" else head + body)
        except OSError:  # gone, or not reading its answer within --timeout
            self.close_connection = True
            return
        self.log_request(status, len(body))

    def _refuse(self, status: int, message: str, code: str | None = None,
                headers: dict | None = None):
        """Every refusal: one JSON body, and one error line in --log (monitoring counts
        it in the error rate)."""
        rid = self._request_id()
        path = str(getattr(self, "path", "") or "").split("?", 1)[0]
        if path == "/v2" or path.startswith("/v2/"):  # the protocol's error object
            doc = {"error": message}
        else:
            doc = {"error_code": code or ERROR_CODES.get(status, "BAD_REQUEST"),
                   "message": message}
        self._send(status, json.dumps(doc).encode(),
                   headers={"X-Request-Id": rid, **(headers or {})})
        self.refused(rid, path, status, message, (time.perf_counter() - self._t0) * 1000.0)

    def refused(self, request_id: str, path: str, status: int, message: str, ms: float):
        """After a refusal was sent (the server's --log line)."""

    def send_error(self, code, message=None, explain=None):
        # http.server's own refusals (bad request line, 431, 505, ...) are JSON too; what
        # is left of the connection cannot be trusted, so it is closed.
        self.close_connection = True
        self._linger = True
        text = message or self.responses.get(code, ("error",))[0]
        if explain and message:
            text = f"{text}: {explain}"
        self._refuse(code, str(text)[:500])

    def _refuse_closing(self, status: int, message: str, headers: dict | None = None):
        self.close_connection = True
        self._linger = True
        self._refuse(status, message, headers=headers)
        return None

    def _not_allowed(self):
        self._refuse_closing(405, f"method {self.command} is not allowed: use GET (/ping, "
                                  f"/health, /version, /v2/...) or POST (/invocations, "
                                  f"/v2/models/NAME/infer)",
                             headers={"Allow": "GET, HEAD, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed


    def _read_body(self) -> bytes | None:
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = [v.strip() for v in self.headers.get_all("Content-Length") or []]
        if encodings:
            if lengths:  # the two disagree on where the body ends: request smuggling
                return self._refuse_closing(400, "a request may not have both "
                                                 "Content-Length and Transfer-Encoding")
            codings = [t.strip().lower() for t in ",".join(encodings).split(",")]
            if codings != ["chunked"]:
                return self._refuse_closing(
                    501, f"unsupported Transfer-Encoding {header_value(encodings[0], 60)!r}"
                         f": only chunked")
            return self._read_chunked()
        if not lengths:
            return self._refuse_closing(411, "Content-Length is required")
        if len(set(lengths)) > 1:
            return self._refuse_closing(400, "conflicting Content-Length headers")
        text = lengths[0]
        if not text or len(text) > 18 or any(c not in "0123456789" for c in text):
            return self._refuse_closing(400, f"bad Content-Length: {header_value(text, 40)!r}")
        n = int(text)
        if n > MAX_BODY_BYTES:
            return self._refuse_closing(413, "request body too large")
        self._raw.extend(n / MIN_BODY_RATE)
        body = self.rfile.read(n)
        if len(body) < n:
            return self._refuse_closing(400, f"the body ended after {len(body)} of its {n} "
                                             f"bytes")
        return body

    def _read_chunked(self) -> bytes | None:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1026)
            size_text = line.split(b";", 1)[0].strip()
            if (not line.endswith(b"\n") or not size_text or len(size_text) > 15
                    or any(c not in b"0123456789abcdefABCDEF" for c in size_text)):
                shown = header_value(size_text.decode("latin-1"), 20)
                return self._refuse_closing(400, f"bad chunked encoding: {shown!r} is not a "
                                                 f"chunk size")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                return self._refuse_closing(413, "request body too large")
            self._raw.extend(total / MIN_BODY_RATE)
            data = self.rfile.read(size)
            if len(data) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                return self._refuse_closing(400, "bad chunked encoding: a chunk is shorter "
                                                 "than its size or not followed by CRLF")
            chunks.append(data)
        for _ in range(100):  # trailer fields, up to the blank line
            line = self.rfile.readline(8194)
            if line in (b"\r\n", b"\n"):
                return b"".join(chunks)
            if not line.endswith(b"\n"):
                break
        return self._refuse_closing(400, "bad chunked encoding: the trailer does not end")
