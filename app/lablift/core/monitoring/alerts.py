"""A version's alerts: listing them and acknowledging one (which clears the version's
"attention needed" flag once none is left open)."""

from __future__ import annotations

from typing import Any

from .. import audit
from ..errors import LabliftError
from ..store import Store, utcnow
from ..store.sql import repository

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py


def list_alerts(store: Store, ref: str | int | None = None) -> list[dict[str, Any]]:
    from .. import registry
    if ref is None:
        return store.rows(monitor_sql.ALL_ALERTS)
    return store.rows(monitor_sql.ALERTS_OF, version_id=registry.resolve_version(store, ref)["id"])


def acknowledge(store: Store, alert_id: int, note: str = "") -> dict[str, Any]:
    """Mark an alert seen. When a version has no unacknowledged alerts left, its
    "attention needed" flag is cleared (both audited)."""
    from .. import registry
    store.require_role("acknowledging alerts", "ops", "analyst", "reviewer")
    alert = store.row(monitor_sql.ALERT_BY_ID, id=int(alert_id))
    if alert is None:
        raise LabliftError(f"alert {alert_id} not found")
    if alert["acknowledged_by"]:
        raise LabliftError(f"alert {alert_id} was already acknowledged by "
                           f"{alert['acknowledged_by']} at {alert['acknowledged_at']}")
    with store.transaction():
        monitor_sql.ACKNOWLEDGE.execute(store.conn, store.engine, {
            "id": alert["id"], "acknowledged_by": store.user, "acknowledged_at": utcnow()})
        audit.append(store, "monitor.acknowledge", f"alert:{alert['id']}",
                     {"version_id": alert["version_id"], "kind": alert["kind"], "note": note})
        left = store.value(monitor_sql.OPEN_ALERTS, version_id=alert["version_id"])
        version = registry.get_version(store, alert["version_id"])
        if left == 0 and version.get("attention"):
            registry.clear_attention(store, alert["version_id"],
                                     note or f"alerts acknowledged by {store.user}")
    return {**store.row(monitor_sql.ALERT_BY_ID, id=alert["id"]), "open_alerts": left}
