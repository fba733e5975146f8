"""Stage `demo`: generate the demo data set (mvclr.data.demo) into data/demo.

Only when `data.source` is data/demo; for a user's own data the stage leaves an empty
folder with a README, so it costs nothing.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from mvclr.config import load_params
from mvclr.data.demo.encode import generate
from mvclr.paths import DEMO


def main() -> None:
    params = load_params()
    source = params["data"]["source"]
    if DEMO.exists():
        shutil.rmtree(DEMO)
    if Path(source).resolve() != DEMO.resolve():
        DEMO.mkdir(parents=True)
        (DEMO / "README.md").write_text(f"The demo data set is not used: data.source is {source}.\n")
        return
    demo = params["demo"]
    generate(DEMO, seed=params["seed"], videos=demo["videos"], genres=demo["genres"],
             min_seconds=demo["min_seconds"], max_seconds=demo["max_seconds"],
             width=demo["width"], height=demo["height"], fps=demo["fps"],
             sample_rate=demo["sample_rate"], container=demo["container"],
             audio_channels=demo["audio_channels"], workers=demo["workers"])


if __name__ == "__main__":
    main()
