"""Files shipped inside the package: sample data, icons, style."""

from pathlib import Path

RESOURCES = Path(__file__).parent
SAMPLE_LOANS = RESOURCES / "sample_loans.csv"
