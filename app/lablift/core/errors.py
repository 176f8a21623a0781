"""Errors a user can act on. Their message is shown as-is: `error: <message>` or a dialog."""


class LabliftError(Exception):
    """A refused or failed action, with a message naming the file, column or rule."""


class NotFound(LabliftError):
    """A reference (dataset, run, model, version) that does not exist."""


class PermissionDenied(LabliftError):
    """The current user's role or the four-eyes rule forbids the action."""


class Cancelled(LabliftError):
    """The user cancelled a long task."""
