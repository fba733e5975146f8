"""Stage `check_params` (always run): params.yaml checked against mvclr.params_schema on every
`dvc repro` and `dvc exp run`, whatever else is up to date, so a misspelt key (`tua: 0.3`) stops
the run naming the key and the nearest valid one instead of being silently ignored when no stage
that reads it runs. Its output never changes, so passing re-runs nothing downstream, and no
other stage depends on the schema of keys it does not read."""
from __future__ import annotations

from mvclr.config import load_params
from mvclr.paths import PARAMS_CHECK


def main() -> None:
    load_params()
    PARAMS_CHECK.parent.mkdir(parents=True, exist_ok=True)
    PARAMS_CHECK.write_text("params.yaml: every key known to mvclr/params_schema.py\n")
    print("check_params: params.yaml holds only known keys")


if __name__ == "__main__":
    main()
