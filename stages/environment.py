"""Stage `environment`: the resolved versions of the key libraries -> reports/environment.json
(mvclr.environment). Re-runs when requirements.lock changes."""
from __future__ import annotations

import json

from mvclr.environment import environment
from mvclr.paths import ENVIRONMENT


def main() -> None:
    ENVIRONMENT.parent.mkdir(parents=True, exist_ok=True)
    ENVIRONMENT.write_text(json.dumps(environment(), indent=2) + "\n")
    print(f"environment: {ENVIRONMENT}")


if __name__ == "__main__":
    main()
