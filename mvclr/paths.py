"""Where the stages read and write, relative to the repository root: the paths dvc.yaml
declares as stage outputs."""
from pathlib import Path

DEMO = Path("data/demo")
FILES = Path("data/files.csv")       # stage scan: what each metadata row points at
INDEX = Path("data/index.csv")
SPLIT = Path("data/split.csv")
SEGMENTS = Path("data/segments.h5")
SHARDS = Path("data/segments")      # the shard files data/segments.h5 presents as one table
AUDIO, VIDEO = Path("features/audio.zarr"), Path("features/video.zarr")
MODELS = Path("models")
REPORTS = Path("reports")
INGEST = REPORTS / "ingest.json"
CURVES = REPORTS / "train"
RETRIEVAL, PROBES = REPORTS / "retrieval.json", REPORTS / "probes.json"
DIAGNOSTICS, DIAGNOSTIC_PLOTS = REPORTS / "diagnostics.json", REPORTS / "diagnostics"
TABLES = REPORTS / "tables.md"
NEIGHBOURS_HTML, NEIGHBOURS_JSON = REPORTS / "neighbours.html", REPORTS / "neighbours.json"
ENVIRONMENT = REPORTS / "environment.json"
PARAMS_CHECK = REPORTS / "params_check.txt"   # stage check_params: written when params.yaml passes
CACHE = Path("cache")                # local memos of verified work, never DVC-tracked
SHARD_MEMO = CACHE / "shards.sqlite" # segment-store shards that verified (mvclr.data.shards)
FILE_MEMO = CACHE / "files.sqlite"   # fingerprints by path and stat (mvclr.data.scan)
PROBE_MEMO = CACHE / "probes.sqlite" # probe outcomes by fingerprint (mvclr.data.ingest)
VIDEO_INDEX = Path("index")          # stage index: one FAISS index per representation (mvclr similar)


def model(name: str) -> Path:
    """The trained projection heads of configuration `name`."""
    return MODELS / f"{name}.pt"


def curve(name: str) -> Path:
    """The per-epoch training curve of configuration `name`."""
    return CURVES / f"{name}.csv"
