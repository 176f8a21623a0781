"""One webhook POST over urllib, and what its answer says about the next attempt
(`Retry-After`). Standard library only, imported when something is sent."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

TIMEOUT_S = 10.0
RETRY_AFTER_CAP_S = 3600.0  # a receiver cannot park a delivery for longer than the backoff cap
RETRY_AFTER_STATUSES = (429, 503)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a POST is never re-sent elsewhere
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` value asks for (delta-seconds or an HTTP date, RFC 9110
    10.2.3), between 0 and RETRY_AFTER_CAP_S; None when absent or unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return min(RETRY_AFTER_CAP_S, max(0.0, seconds))


def post(url: str, body: bytes, headers: dict[str, str], user_agent: str
         ) -> tuple[int | None, str, float | None]:
    """(HTTP status or None, a one-line error ('' when 2xx), Retry-After seconds or None)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        **headers, "Content-Type": "application/json", "User-Agent": user_agent})
    try:
        with _opener.open(request, timeout=TIMEOUT_S) as response:
            response.read(65536)
            return response.status, "", None
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode("utf-8", "replace") if exc.fp else ""
        wait = (retry_after_s(exc.headers.get("Retry-After"))
                if exc.code in RETRY_AFTER_STATUSES and exc.headers else None)
        return exc.code, " ".join(f"HTTP {exc.code} {exc.reason}: {text}".split())[:300], wait
    except (socket.timeout, TimeoutError):
        return None, f"no answer within {TIMEOUT_S:g} s", None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        where = urlsplit(url)  # host and port only: the log is everyone's, a URL may hold a token
        return None, " ".join(f"cannot reach {where.hostname}:{where.port or where.scheme}: "
                              f"{reason}".split())[:300], None
