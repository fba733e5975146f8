"""Where the stages read and write, relative to the repository root: the paths dvc.yaml
declares for the stores that more than one stage uses."""
from pathlib import Path

DEMO = Path("data/demo")
INDEX = Path("data/index.csv")
SEGMENTS = Path("data/segments.h5")
FEATURES = {"audio": Path("features/audio.zarr"), "video": Path("features/video.zarr")}
AUDIO, VIDEO = FEATURES["audio"], FEATURES["video"]
MODELS = Path("models")
CURVES = Path("reports/train")
REPORTS = Path("reports")


def model(name: str) -> Path:
    """The trained projection heads of configuration `name`."""
    return MODELS / f"{name}.pt"


def curve(name: str) -> Path:
    """The per-epoch training curve of configuration `name`."""
    return CURVES / f"{name}.csv"
