"""File → Settings…: the store's monitoring thresholds and default gates, this machine's
Dask scheduler, local workers and theme, and the store the window works on.

Other parts of the GUI read this machine's settings here: `scheduler_setting()` (QSettings
"compute/dask_scheduler", None when unset), `local_workers_setting()` and `theme_setting()`.
"""

from .dialog import SettingsDialog, open_settings
from .machine import (SCHEDULER_KEY, THEME_KEY, local_workers_setting, scheduler_setting,
                      set_scheduler_setting, theme_setting)

__all__ = ["SCHEDULER_KEY", "THEME_KEY", "SettingsDialog", "local_workers_setting",
           "open_settings", "scheduler_setting", "set_scheduler_setting", "theme_setting"]
