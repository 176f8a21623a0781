"""HTTP serving of a Lablift bundle: MLflow's scoring protocol (/invocations, /ping,
/health, /version), the Open Inference Protocol (kserve_v2.py), POST /admin/reload and the
--shadow bundle (live.py), on a fixed pool of worker threads. Part of the bundle's runtime
(see serve.py): run only after the integrity check; never imports Lablift.
"""

import io
import json
import sys
import threading
import time
from pathlib import Path

from .http_base import JsonHandler, header_value
from .inputs import parse_json_body
from .kserve_v2 import V2_SERVER, v2_columns, v2_metadata, v2_outputs, v2_requested, v2_route
from .live import Live, PredictionLog, Serving, Shadow, is_loopback, reload_and_say
from .scoring import Scorer
from .serve import BUNDLE_DIR, BundleError, InputError


def make_handler(scorer: Scorer | None, log: PredictionLog | None, quiet: bool = True,
                 timeout: float | None = 15.0, live: Live | None = None):
    """The request handler class. `live` (made from `scorer` when not given) is what every
    request scores with; /admin/reload and SIGHUP swap it."""
    live = live or Live(Serving(scorer))
    want_proba = log is not None

    class Handler(JsonHandler):
        def refused(self, request_id, path, status, message, ms):
            if log is not None and path != "/admin/reload":
                log.write_error(request_id, status, message, ms, model=live.current.label)

        def do_GET(self):
            if self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding"):
                self.close_connection = True  # a GET body is never read: do not parse it next
                self._linger = True
            path = self.path.split("?", 1)[0]
            if path in ("/ping", "/health"):
                self._send(200, b'{"status": "ok"}')
            elif path == "/version":
                self._send(200, live.current.version_doc)
            elif path == "/v2" or path.startswith("/v2/"):
                self._v2_get(path, live.current)
            elif path in ("/invocations", "/admin/reload"):
                self._refuse(405, f"{path} takes POST", headers={"Allow": "POST"})
            else:
                self._refuse(404, f"no such endpoint: {path[:200]} (use /ping, /health, "
                                  f"/version, /invocations, /v2/...)")

        def _v2_get(self, path: str, cur: Serving):
            route = v2_route(path)
            if route is None:
                self._refuse(404, f"no such endpoint: {path[:200]} (V2: /v2, /v2/health/live, "
                                  f"/v2/health/ready, /v2/models/{cur.name}[/ready|/infer])")
            elif route[0] == "server":
                self._send(200, json.dumps(V2_SERVER).encode())
            elif route[0] == "health":  # loaded before the port opened: both true
                self._send(200, json.dumps({route[1]: True}).encode())
            elif self._v2_model_ok(route, cur):
                if route[0] == "infer":
                    self._refuse(405, f"{path[:200]} takes POST", headers={"Allow": "POST"})
                elif route[0] == "ready":
                    self._send(200, json.dumps({"name": cur.name, "ready": True}).encode())
                else:
                    self._send(200, json.dumps(v2_metadata(cur.name, cur.version,
                                                           cur.scorer)).encode())

        def _v2_model_ok(self, route: tuple, cur: Serving) -> bool:
            _, name, version = route
            shown = f"'{cur.name}'" + (f" version {cur.version}" if cur.version else "")
            if name != cur.name:
                self._refuse(404, f"model '{name[:100]}' is not served here; this server serves "
                                  f"{shown}")
                return False
            if version is not None and version != cur.version:
                self._refuse(404, f"version '{version[:40]}' of '{name}' is not served here; this"
                                  f" server serves {shown}")
                return False
            return True

        do_HEAD = do_GET

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            body = self._read_body()
            if body is None:
                return
            cur = live.current  # this request finishes on it, whatever a reload does meanwhile
            if path == "/invocations":
                self._invocations(body, cur)
            elif path == "/v2" or path.startswith("/v2/"):
                route = v2_route(path)
                if route is None or route[0] != "infer":
                    self._refuse(404, f"no such endpoint: POST {path[:200]} (V2: POST "
                                      f"/v2/models/{cur.name}/infer)")
                elif self._v2_model_ok(route, cur):
                    self._v2_infer(body, cur)
            elif path == "/admin/reload":
                self._admin_reload(body)
            else:
                self._refuse(404, f"no such endpoint: {path[:200]} (POST /invocations, "
                                  f"/v2/models/{cur.name}/infer or /admin/reload)")

        def _invocations(self, body: bytes, cur: Serving):
            scorer, shadow = cur.scorer, cur.shadow
            start = self._t0
            request_id = self._request_id()
            ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0]
            ctype = ctype.strip().lower()
            reject = self._refuse
            try:
                if ctype == "application/json":
                    columns, n = parse_json_body(body, scorer.names)
                    if shadow is not None:
                        raw = dict(columns)  # before frame_from_columns fills in defaults

                        def again(s):
                            return s.frame_from_columns(dict(raw), n)[0]
                    frame, coerced, warnings = scorer.frame_from_columns(columns, n)
                elif ctype == "text/csv":
                    text = body.decode("utf-8")
                    df = scorer.read_csv(io.StringIO(text))
                    frame, warnings = scorer.frame_from_dataframe(df)
                    coerced = {c: frame[c].tolist() for c in scorer.names} if log else None

                    def again(s):
                        return s.frame_from_dataframe(s.read_csv(io.StringIO(text)))[0]
                else:
                    reject(415, f"unsupported Content-Type {header_value(ctype, 80)!r}: use "
                                f"application/json or text/csv")
                    return
                pred, proba = scorer.score(frame, want_proba=want_proba)
            except InputError as exc:
                reject(400, str(exc))
                return
            except UnicodeDecodeError as exc:
                reject(400, f"the request body is not UTF-8 text: {exc}")
                return
            except RecursionError:
                reject(400, "the request body is nested too deeply to be a table")
                return
            except Exception as exc:  # the server goes on serving whatever one request does
                reject(500, f"internal error: {type(exc).__name__}: {exc}", "INTERNAL_ERROR")
                return
            doc = {"predictions": pred.tolist()}
            headers = {"X-Request-Id": request_id}
            if warnings:
                doc["warnings"] = warnings
                headers["X-Lablift-Warning"] = header_value(" | ".join(warnings), 1000)
            self._send(200, json.dumps(doc).encode(), headers=headers)
            self._record(cur, request_id, coerced, pred, proba,
                         (time.perf_counter() - start) * 1000.0, again if shadow else None)

        def _v2_infer(self, body: bytes, cur: Serving):
            scorer, start = cur.scorer, self._t0
            if self.headers.get("Inference-Header-Content-Length"):
                self._refuse(400, "the binary tensor data extension is not supported: send the "
                                  "tensors as JSON")
                return
            try:
                try:
                    doc = json.loads(body)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise InputError(f"the request body is not valid JSON: {exc}") from None
                if isinstance(doc, dict) and "id" in doc:
                    if not isinstance(doc["id"], str):
                        raise InputError("'id' must be a string")
                    if self.headers.get("X-Request-Id") is None and header_value(doc["id"]):
                        self._rid = header_value(doc["id"])
                columns, n, warnings = v2_columns(doc, scorer)
                wanted = v2_requested(doc, scorer)
                frame, coerced, more = scorer.frame_from_columns(columns, n)
                pred, proba = scorer.score(frame, want_proba=scorer.classes is not None)
            except InputError as exc:
                self._refuse(400, str(exc))
                return
            except RecursionError:
                self._refuse(400, "the request body is nested too deeply to be a tensor")
                return
            except Exception as exc:
                self._refuse(500, f"internal error: {type(exc).__name__}: {exc}")
                return
            request_id = self._request_id()
            warnings += more
            answer = {"model_name": cur.name, "model_version": cur.version,
                      "id": doc.get("id", request_id),
                      "outputs": v2_outputs(scorer, pred, proba, wanted)}
            headers = {"X-Request-Id": request_id}
            if warnings:
                answer["parameters"] = {"warnings": " | ".join(warnings)}
                headers["X-Lablift-Warning"] = header_value(" | ".join(warnings), 1000)
            self._send(200, json.dumps(answer).encode(), headers=headers)

            def again(s):
                c, rows, _ = v2_columns(doc, s)
                return s.frame_from_columns(c, rows)[0]
            self._record(cur, request_id, coerced, pred, proba if want_proba else None,
                         (time.perf_counter() - start) * 1000.0, again)

        def _record(self, cur: Serving, request_id, coerced, pred, proba, latency_ms, again):
            """After the answer is sent: the --log line, and the shadow's score when there is
            one (the log line then waits for it, in the shadow's pool)."""
            if cur.shadow is None:
                if log is not None:
                    log.write(request_id, coerced, pred, proba, cur.scorer.classes, latency_ms,
                              model=cur.label)
                return

            def then(rows):
                if log is not None:
                    log.write(request_id, coerced, pred, proba, cur.scorer.classes, latency_ms,
                              model=cur.label, shadow=rows)
            cur.shadow.submit(again, len(pred), then)

        def _admin_reload(self, body: bytes):
            host = str(self.client_address[0]) if self.client_address else ""
            if not is_loopback(host):
                self._refuse(403, f"/admin/reload is accepted only from loopback (127.0.0.1, "
                                  f"::1), not from {header_value(host, 60)}", "FORBIDDEN")
                return
            folder, shadow = None, Live.KEEP
            if body.strip():
                try:
                    doc = json.loads(body)
                except (ValueError, UnicodeDecodeError) as exc:
                    self._refuse(400, f"the request body is not valid JSON: {exc}")
                    return
                if (not isinstance(doc, dict) or set(doc) - {"bundle", "shadow"}
                        or not isinstance(doc.get("bundle", ""), str)
                        or not isinstance(doc.get("shadow", ""), (str, type(None)))):
                    self._refuse(400, 'the body must be {"bundle": "/path/to/bundle"} or empty '
                                      '(reload the folder being served); "shadow": '
                                      '"/path/to/other" or null also replaces or stops the '
                                      'shadow')
                    return
                folder = doc.get("bundle") or None
                if "shadow" in doc:
                    shadow = doc["shadow"] or None
            ok, result = reload_and_say(live, folder, "POST /admin/reload", shadow)
            if ok:
                self._send(200, json.dumps(result).encode())
            else:
                self._refuse(422, result, "RELOAD_REFUSED")

    Handler.timeout, Handler.quiet = timeout, quiet
    return Handler


def make_server(address, handler, workers: int):
    """An HTTPServer whose connections go to a fixed pool of `workers` threads: a flood of
    (slow) connections waits in the listen backlog instead of starting a thread each."""
    import queue
    from http.server import HTTPServer

    class PooledHTTPServer(HTTPServer):
        allow_reuse_address = True
        request_queue_size = 128

        def __init__(self):
            super().__init__(address, handler)
            self._jobs = queue.Queue(maxsize=workers)
            for i in range(workers):
                threading.Thread(target=self._work, name=f"serve-worker-{i}",
                                 daemon=True).start()

        def process_request(self, request, client_address):
            self._jobs.put((request, client_address))  # waits while every worker is busy

        def _work(self):
            while True:
                request, client_address = self._jobs.get()
                try:
                    self.finish_request(request, client_address)
                except Exception:  # one connection never stops a worker or prints a traceback
                    pass
                finally:
                    self.shutdown_request(request)

        def handle_error(self, request, client_address):
            pass

    return PooledHTTPServer()


def serve(args, log_path) -> int:
    """`serve.py serve`: the bundle in BUNDLE_DIR was verified by serve.py just before."""
    scorer = Scorer(BUNDLE_DIR, checked=True)
    shadow = None
    if args.shadow:
        folder = Path(args.shadow).expanduser().resolve()
        try:
            if not folder.is_dir():
                raise BundleError(f"bundle folder {folder} not found")
            shadow = Shadow(Scorer(folder))
        except BundleError as exc:
            raise BundleError(f"--shadow {args.shadow}: {exc}") from None
    live = Live(Serving(scorer, shadow))
    log = PredictionLog(log_path, scorer.label()) if log_path else None
    try:
        server = make_server((args.host, args.port),
                             make_handler(scorer, log, quiet=not args.access_log,
                                          timeout=args.timeout, live=live), args.workers)
    except OSError as exc:
        raise BundleError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    import signal
    if hasattr(signal, "SIGHUP"):  # reload the served folder, off the serving thread
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
            target=reload_and_say, args=(live, None, "SIGHUP"), daemon=True).start())

    def stop(*_):  # `docker stop`: as PID 1 an unhandled SIGTERM would be ignored
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    host, port = server.server_address[:2]
    if shadow is not None:
        print(f"shadow: every scored request is also scored by {shadow.label} "
              f"({shadow.scorer.kind} scorer); answers come from {scorer.label()}",
              file=sys.stderr, flush=True)
    # One line, the URL last: scripts read the port after its last colon.
    print(f"serving {scorer.label()} ({scorer.kind} scorer) on http://{host}:{port} "
          f"(POST /invocations, /v2/models/{live.current.name}/infer)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if live.current.shadow is not None:  # the one in use: a reload may have replaced it
            live.current.shadow.close()
        if log is not None:
            log.close()
    return 0
