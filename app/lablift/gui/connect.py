"""File → Connect to a team store…: the dialog, and the store locations the GUI remembers.

The dialog tests a URL with core's `team.info` and connects through the main window's
`open_store_location`, both in workers (a server may take seconds to answer, or never).
What it remembers (QSettings "stores/recent") never holds a password: a URL that carries one
is remembered without it, and the user is told that credentials belong in ~/.pgpass or
PGPASSWORD (libpq reads both; Lablift never stores a secret).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QPushButton, QVBoxLayout, QWidget)

from ..core.store import is_url
from . import palette
from .workers import Task, run_task, while_alive

RECENT_KEY = "stores/recent"
RECENT_MAX = 8
URL_FORM = "postgresql://[user@]host[:port]/dbname"
CREDENTIALS_HINT = ("credentials belong in ~/.pgpass or the PGPASSWORD environment variable "
                    "(libpq reads both), not in the URL")
OK, WARN, ERROR, BUSY = "ok", "warn", "error", "busy"  # tones of a result line


def tone_style(tone: str) -> str:
    """The stylesheet of a result line's tone, in the colours of the theme in use."""
    if tone == WARN:
        return palette.css_warning()
    return palette.css_text({OK: "good", ERROR: "bad"}.get(tone, "muted"))


# -- URLs ------------------------------------------------------------------------------------
def url_password(url: str) -> list[str]:
    """The password(s) a URL carries (user info or a password= parameter), raw and decoded."""
    out: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if ":" in userinfo:
        raw = userinfo.split(":", 1)[1]
        out += [raw, unquote(raw)]
    for piece in parts.query.split("&") if parts.query else []:
        key, _, value = piece.partition("=")
        if key.lower() == "password" and value:
            out += [value, unquote(value)]
    return sorted({s for s in out if s}, key=len, reverse=True)


def has_password(url: str) -> bool:
    return bool(url_password(url))


def strip_password(url: str) -> str | None:
    """`url` without any password (user info or password= parameter); None if it cannot be
    taken apart safely (then it must not be remembered at all)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{host}" if user else host
    query = "&".join(p for p in parts.query.split("&")
                     if p and p.partition("=")[0].lower() != "password") if parts.query else ""
    out = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    if has_password(out) or any(s in out for s in url_password(url)):
        return None
    return out


def scrub(text: str, url: str) -> str:
    """`text` on one line, with any password of `url` replaced by ***."""
    for secret in url_password(url):
        text = text.replace(secret, "***")
    return " ".join(text.split())


def server_place(store) -> str:
    """host[:port]/database of a team store, for the status bar (the full masked URL is the
    tooltip). A Unix-socket URL shows as "local socket"."""
    host, port = "", None
    try:
        parts = urlsplit(getattr(store, "url", "") or str(store.root))
        host = parts.hostname or ""
        try:
            port = parts.port
        except ValueError:
            port = None
        if not host:
            for piece in parts.query.split("&"):
                key, _, value = piece.partition("=")
                if key == "host" and value:
                    host = unquote(value)
                elif key == "port" and value.isdigit() and port is None:
                    port = int(value)
    except ValueError:
        pass
    if not host or host.startswith("/"):
        host = "local socket"
    elif port and port != 5432:
        host = f"{host}:{port}"
    return f"{host}/{getattr(store, 'database', '') or '?'}"


def server_name(version: str | None) -> str:
    """"PostgreSQL 15.18" from server_version "15.18 (Debian 15.18-0+deb12u1)"."""
    return f"PostgreSQL {(version or '?').split()[0]}"


# -- remembered stores -------------------------------------------------------------------------
def recent_stores() -> list[str]:
    value = QSettings().value(RECENT_KEY, [])
    if isinstance(value, str):  # some backends return a one-item list as its item
        value = [value]
    return [str(v) for v in (value or []) if v and not has_password(str(v))]


def remember_store(location: str) -> str | None:
    """Put `location` first in the recent stores, without any password; returns what was
    remembered (None when a URL could not be stripped safely: nothing is remembered then)."""
    location = str(location)
    if is_url(location):
        location = strip_password(location)
        if location is None:
            return None
    items = [location] + [r for r in recent_stores() if r != location]
    QSettings().setValue(RECENT_KEY, items[:RECENT_MAX])
    return location


def clear_recent_stores() -> None:
    QSettings().remove(RECENT_KEY)


# -- the dialog --------------------------------------------------------------------------------
def describe_info(info: dict[str, Any]) -> tuple[str, str]:
    """(text, tone) for what `team.info` found."""
    from ..core.store import migrate
    server = server_name(info.get("server_version"))
    user, database = info.get("user"), info.get("database")
    schema = int(info.get("schema_version") or 0)
    if schema == 0:
        return (f"Reached {server} as {user}, but database {database} is not a Lablift team "
                f"store: an administrator prepares it with `lablift store init URL`.",
                WARN)
    if schema > migrate.HEAD:
        return (f"Reached {server} as {user}, but database {database} has schema {schema}, "
                f"newer than this Lablift understands ({migrate.HEAD}): upgrade Lablift.",
                WARN)
    role = info.get("role")
    if not role:
        return (f"✓ {server} · database {database} (schema {schema}) · signed in as {user}, "
                f"who has no Lablift role yet: you can read, and an admin gives you a role "
                f"with `lablift users add {user} --role ROLE`.", WARN)
    note = f" · schema {schema}, upgraded on connect" if schema < migrate.HEAD else ""
    return (f"✓ {server} · database {database} · signed in as {user} ({role}), identity "
            f"from the server{note}", OK)


class ConnectDialog(QDialog):
    """URL, Test connection (team.info in a worker), Connect (the window reopens its store)."""

    tested = Signal(bool, str)  # ok, the line shown (for tests and the status bar)

    def __init__(self, window, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.window_ = window
        self.setWindowTitle("Connect to a team store")
        self.setMinimumWidth(560)
        self.test_task: Task | None = None
        self.connect_task: Task | None = None

        layout = QVBoxLayout(self)
        intro = QLabel("A team store is a PostgreSQL database prepared with <code>lablift store "
                       "init URL</code>. You are who the server authenticates: passwords come "
                       "from <code>~/.pgpass</code> or <code>PGPASSWORD</code>, never from "
                       "Lablift.")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(intro)

        form = QFormLayout()
        self.url_combo = QComboBox()
        self.url_combo.setEditable(True)
        self.url_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.url_combo.addItems([r for r in recent_stores() if is_url(r)])
        self.url_combo.setCurrentIndex(-1)
        self.url_edit = self.url_combo.lineEdit()
        self.url_edit.setPlaceholderText(URL_FORM)
        self.url_edit.setClearButtonEnabled(True)
        self.url_combo.setMinimumContentsLength(40)
        self.url_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        form.addRow("Server URL:", self.url_combo)
        layout.addLayout(form)

        self.password_note = QLabel(f"This URL carries a password: Lablift uses it for this "
                                    f"connection only and remembers the URL without it; "
                                    f"{CREDENTIALS_HINT}.")
        self.password_note.setWordWrap(True)
        self.password_note.setStyleSheet(tone_style(WARN))
        self.password_note.hide()
        layout.addWidget(self.password_note)

        row = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        row.addWidget(self.test_button, 0, Qt.AlignmentFlag.AlignTop)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result.setMinimumHeight(self.fontMetrics().height() * 2 + 6)
        self.result.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.result, 1)
        layout.addLayout(row)

        self.work_note = QLabel()
        self.work_note.setWordWrap(True)
        self.work_note.setStyleSheet(tone_style(WARN))
        self.work_note.hide()
        layout.addWidget(self.work_note)

        self.buttons = QDialogButtonBox()
        self.connect_button = self.buttons.addButton(
            "Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.connect_button.setDefault(True)
        self.buttons.accepted.connect(self.connect_store)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.url_edit.textChanged.connect(self._on_text)
        self._on_text(self.url_edit.text())
        self.update_work_note()

    # -- state ---------------------------------------------------------------------------
    def url(self) -> str:
        return self.url_edit.text().strip()

    def set_url(self, url: str) -> None:
        self.url_edit.setText(url)

    def _on_text(self, text: str) -> None:
        self.password_note.setVisible(has_password(text.strip()))
        self.result.clear()
        self._update_buttons()
        self._fit()

    def _busy(self) -> bool:
        return any(t is not None and t.is_running() for t in (self.test_task,
                                                               self.connect_task))

    def _update_buttons(self) -> None:
        has_url = bool(self.url())
        connecting = self.connect_task is not None and self.connect_task.is_running()
        self.test_button.setEnabled(has_url and not self._busy())
        self.connect_button.setEnabled(has_url and not connecting)
        self.url_combo.setEnabled(not connecting)

    def update_work_note(self) -> None:
        running = self.window_.running_work() if hasattr(self.window_, "running_work") else []
        self.work_note.setText(f"Connecting stops what is still running in the current store: "
                               f"{'; '.join(running)}." if running else "")
        self.work_note.setVisible(bool(running))

    def _show(self, text: str, tone: str) -> None:
        self.result.setStyleSheet(tone_style(tone))
        self.result.setText(text)
        self._fit()

    def _fit(self) -> None:
        """Grow (never shrink) to show a long wrapped message whole."""
        layout = self.layout()
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() \
            else self.sizeHint().height()
        if needed > self.height():
            self.resize(self.width(), needed)

    def _check(self) -> str | None:
        url = self.url()
        if not url:
            self._show(f"Enter the team store's URL: {URL_FORM}", ERROR)
            return None
        if not is_url(url):
            self._show(f"A team store URL is {URL_FORM}; to open a store folder use "
                       f"File → Open a local store folder…", ERROR)
            return None
        return url

    # -- test --------------------------------------------------------------------------------
    def test_connection(self) -> Task | None:
        url = self._check()
        if url is None:
            return None
        from ..core.store import team
        self._show(f"Connecting to {team.mask_url(url)}…", BUSY)
        task = self.test_task = run_task(lambda progress, cancelled: team.info(url))
        task.finished.connect(lambda info, t=task, u=url: self._on_tested(t, u, info))
        task.failed.connect(lambda msg, t=task, u=url: self._on_test_failed(t, u, msg))
        task.done.connect(self._after_task)
        self._update_buttons()
        return task

    @while_alive
    def _on_tested(self, task: Task, url: str, info: dict[str, Any]) -> None:
        if task is not self.test_task:
            return
        text, style = describe_info(info)
        self._show(text, style)
        self.tested.emit(style == OK, text)

    @while_alive
    def _on_test_failed(self, task: Task, url: str, message: str) -> None:
        if task is not self.test_task:
            return
        text = scrub(message, url)
        self._show(text, ERROR)
        self.tested.emit(False, text)

    @while_alive
    def _after_task(self) -> None:
        self._update_buttons()

    # -- connect -------------------------------------------------------------------------------
    def connect_store(self) -> Task | None:
        url = self._check()
        if url is None:
            return None
        from ..core.store import team
        self._show(f"Opening the team store at {team.mask_url(url)}…", BUSY)
        task = self.connect_task = self.window_.open_store_location(url, report=False)
        task.finished.connect(lambda _r, t=task: self._on_connected(t))
        task.failed.connect(lambda msg, t=task, u=url: self._on_connect_failed(t, u, msg))
        task.done.connect(self._after_task)
        self._update_buttons()
        return task

    @while_alive
    def _on_connected(self, task: Task) -> None:
        if task is self.connect_task:
            self.accept()

    @while_alive
    def _on_connect_failed(self, task: Task, url: str, message: str) -> None:
        if task is self.connect_task:
            self._show(scrub(message, url), ERROR)

    def reject(self) -> None:
        if self.connect_task is not None and self.connect_task.is_running():
            self.connect_task.cancel()  # the window ignores a store opened after this
        super().reject()
