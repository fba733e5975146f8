"""Stage `tables`: reports/tables.md from reports/retrieval.json, probes.json (stage evaluate) and
diagnostics.json (stage diagnose), rendered by mvclr.reporting.tables."""
from __future__ import annotations

import json

from mvclr.paths import DIAGNOSTICS, PROBES, RETRIEVAL, TABLES
from mvclr.reporting.tables import render


def main() -> None:
    loaded = {path.stem: json.loads(path.read_text()) for path in (RETRIEVAL, PROBES, DIAGNOSTICS)}
    TABLES.write_text(render(**loaded))


if __name__ == "__main__":
    main()
