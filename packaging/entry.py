"""PyInstaller entry point (a script cannot use the package's relative imports)."""

import sys

from lablift.cli import main

sys.exit(main())
