"""Scale of the catalogue against the stated targets.

    python benchmarks/scale.py --videos-index M [--representations cl_agg ...] [--queries 1000]

--videos-index M: the nearest-neighbour index alone (mvclr.evaluation.index, params.yaml
`index`) on M synthetic video vectors per representation (mvclr.evaluation.synthetic: a
hierarchical Gaussian mixture of genres and artists with noise, unit rows): build time, file
size, load time, p50 / p99 latency of one query at a time by catalogue id (the video itself
left out, as `mvclr similar ID` asks) on the saved and memory-mapped index, and recall@10
against exact search; also with `--split test` (10 % of the videos), the latency of exact
search at M for comparison, the recall per nprobe, and a fresh process that loads the index
and answers one id (the index's share of `mvclr similar`'s start-to-answer time, and its
peak memory). Target at 550 000 videos, every representation: p50 <= 20 ms, p99 <= 100 ms,
recall@10 >= 0.95. Memory: the vectors and the index at once (~2 × 4·M·dim bytes).
Queries run on one thread (FAISS runs a single query on one thread anyway), builds on all.

    python benchmarks/scale.py --segments N [--epochs 1] [--workdir DIR] [--keep]

--segments N: the stages after embed on a synthetic catalogue of N segments (N/6 videos;
mvclr.evaluation.synthetic_catalogue: the segment metadata, data/index.csv and both feature
stores with planted cross-modal structure, written as the pipeline writes them) in a fresh
workspace: each stage as the pipeline runs it, a separate process (`python -m stages.train
--config main`, every `train_config`, evaluate, diagnose, tables, neighbours, index), with
params.yaml as the repository's except that every fitting runs exactly --epochs epochs (heads,
autoencoders, probes, attention pool, shared space: max_epochs = patience = epochs), then
`mvclr similar ID` from process start to answer. Wall time and peak memory of each (the
process's own high-water mark, and the sum over its process tree sampled every 0.1 s, whichever
is larger). Prints one JSON object per stage and, last, one summary line with `segments`,
`max_peak_rss_gb` and per stage `seconds` and `peak_rss_gb`. Targets at N = 1 000 000 on the
2-core, 24 GiB machine: every stage completes, max_peak_rss_gb <= 3, `similar` <= 5 s and
<= 2 GB; from 250 000 to 1 000 000 no stage's time grows more than 4.5 x (the exact
whole-test ranking inside evaluate may grow with the square of the test split).
"""
import argparse
import copy
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import psutil
import yaml

from mvclr.config import config_names, load_params
from mvclr.evaluation import index as video_index
from mvclr.evaluation import synthetic
from mvclr.evaluation.pooling import REPRESENTATIONS
from mvclr.evaluation.synthetic_catalogue import write_catalogue

REPO = Path(__file__).resolve().parents[1]

K = 10
TARGET = {"p50_ms": 20.0, "p99_ms": 100.0, "recall": 0.95}
BUILD_THREADS = faiss.omp_get_max_threads()
FRESH = """import sys, time
t = time.perf_counter()
from mvclr.evaluation import index
idx = index.load(sys.argv[1])
found = idx.neighbours(sys.argv[2], 10)
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")]
print(time.perf_counter() - t, int(hwm[0]) / 1024)
"""


def dims(params: dict) -> dict[str, int]:
    """Video vector dimension per representation: musicnn max_pool‖mean_pool, R(2+1)D, the
    main configuration's embeddings (cl_agg: the mean of two embed_dim vectors)."""
    e = params["embed_dim"]
    return {"musicnn": 1506, "r2plus1d": 512, "musicnn+r2plus1d": 2018,
            "cl_audio": e, "cl_video": e, "cl_agg": e}


def meets(r: dict) -> bool:
    return r["p50"] <= TARGET["p50_ms"] and r["p99"] <= TARGET["p99_ms"] and r["recall"] >= TARGET["recall"]


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a[a >= 0]) & set(b)) / len(b) for a, b in zip(found, exact)]))


def exact_neighbours(x: np.ndarray, seeds: np.ndarray, candidates: np.ndarray | None = None
                     ) -> np.ndarray:
    """Rows of the K most similar rows (among `candidates`, default all) of each seed, itself
    left out: brute force in one batch."""
    base = x if candidates is None else x[candidates]
    _, rows = faiss.knn(x[seeds], base, K + 1, metric=faiss.METRIC_INNER_PRODUCT)
    rows = rows if candidates is None else candidates[rows]
    return np.array([[r for r in row if r != s][:K] for s, row in zip(seeds, rows)])


def timed_queries(idx: video_index.VideoIndex, seeds: np.ndarray, splits=None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbours, wall-clock and CPU milliseconds of one query by id at a time (CPU time
    leaves out the waits for the other processes on the shared cores)."""
    found, ms, cpu = [], [], []
    for s in seeds:
        start, start_cpu = time.perf_counter(), time.thread_time()
        rows = idx.neighbours(idx.video_ids[s], K, splits).rows
        ms.append(1000 * (time.perf_counter() - start))
        cpu.append(1000 * (time.thread_time() - start_cpu))
        found.append(np.pad(rows, (0, K - len(rows)), constant_values=-1))
    return np.array(found), np.array(ms), np.array(cpu)


def fresh_process(directory: Path, video_id: str) -> tuple[float, float, float]:
    """Seconds from process start to answer, seconds inside (import, load, query), peak RSS MiB."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", FRESH, str(directory), video_id], check=True,
                         capture_output=True, text=True).stdout.split()
    return time.perf_counter() - start, float(out[0]), float(out[1])


def bench_representation(name: str, dim: int, m: int, params: dict, queries: int,
                         workdir: Path) -> dict:
    rng = np.random.default_rng(params["seed"])
    x = synthetic.clustered_vectors(m, dim, seed=params["seed"] + REPRESENTATIONS.index(name))
    ids = np.array([f"v{i:07d}" for i in range(m)])
    splits = rng.choice(["train", "val", "test"], size=m, p=[0.8, 0.1, 0.1])
    seeds = rng.choice(m, size=min(queries, m), replace=False)
    truth = exact_neighbours(x, seeds)
    test_rows = np.flatnonzero(splits == "test")
    truth_test = exact_neighbours(x, seeds, test_rows)
    exact_ms = []
    for s in seeds[:50]:                       # exact search of one query, the kernel of IndexFlatIP
        start = time.perf_counter()
        faiss.knn(x[s:s + 1], x, K + 1, metric=faiss.METRIC_INNER_PRODUCT)
        exact_ms.append(1000 * (time.perf_counter() - start))

    faiss.omp_set_num_threads(BUILD_THREADS)
    start = time.perf_counter()
    built = video_index.build(x, ids, splits, params["index"], params["seed"], name)
    build_s = time.perf_counter() - start
    directory = workdir / name
    video_index.save(built, directory)
    del built, x
    faiss.omp_set_num_threads(1)
    start = time.perf_counter()
    idx = video_index.load(directory)
    load_ms = 1000 * (time.perf_counter() - start)
    timed_queries(idx, seeds[:20])             # page in the coarse quantiser
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
    found, ms, cpu = timed_queries(idx, seeds)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt - faults
    found_test, ms_test, _ = timed_queries(idx, seeds, ["test"])
    sweep = {}
    if idx.meta["kind"] == video_index.IVF:
        chosen = idx.index.nprobe
        for nprobe in sorted({max(1, chosen // 4), max(1, chosen // 2), chosen, 2 * chosen}):
            idx.index.nprobe = nprobe
            f, t, _ = timed_queries(idx, seeds[:300])
            sweep[nprobe] = (recall(f, truth[:300]), float(np.percentile(t, 50)))
        idx.index.nprobe = chosen
    wall, inside, rss = fresh_process(directory, str(ids[seeds[0]]))
    return {"name": name, "dim": dim, "kind": idx.meta["kind"], "nlist": idx.meta.get("nlist", "-"),
            "nprobe": idx.meta.get("nprobe", "-"), "build_s": build_s,
            "file_mib": (directory / video_index.INDEX_FILE).stat().st_size / 2 ** 20,
            "load_ms": load_ms, "p50": np.percentile(ms, 50), "p99": np.percentile(ms, 99),
            "cpu_p50": np.percentile(cpu, 50), "cpu_p99": np.percentile(cpu, 99), "faults": faults,
            "recall": recall(found, truth), "test_p50": np.percentile(ms_test, 50),
            "test_p99": np.percentile(ms_test, 99), "test_recall": recall(found_test, truth_test),
            "exact_p50": np.percentile(exact_ms, 50), "sweep": sweep, "fresh_s": wall,
            "fresh_inside_s": inside, "fresh_rss_mib": rss}


def videos_index(m: int, names: list[str], queries: int, params: dict) -> None:
    s = params["index"]
    print(f"index alone, M={m} synthetic video vectors per representation ({synthetic.GENRES} "
          f"genres, {synthetic.VIDEOS_PER_ARTIST} videos per artist, {synthetic.LATENT}-d latent, "
          f"noise {synthetic.NOISE}); params.yaml index: exact_max={s['exact_max']}, ivf={s['ivf']}")
    print(f"faiss {faiss.__version__}; build on {BUILD_THREADS} threads; {queries} queries by "
          f"catalogue id one at a time on 1 thread, the video left out, warm page cache; load "
          f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    head = (f"{'representation':<17}{'dim':>5} {'kind':<6}{'nlist':>6}{'nprobe':>7}{'build s':>9}"
            f"{'MiB':>7}{'load ms':>8}{'p50 ms':>8}{'p99 ms':>8}{'R@10':>7} | {'test: p50':>9}"
            f"{'p99':>7}{'R@10':>7} | {'exact p50':>9} | target")
    print(head)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mvclr-index-") as tmp:
        for name in names:
            r = bench_representation(name, dims(params)[name], m, params, queries, Path(tmp))
            rows.append(r)
            print(f"{name:<17}{r['dim']:>5} {r['kind']:<6}{r['nlist']:>6}{r['nprobe']:>7}"
                  f"{r['build_s']:>9.1f}{r['file_mib']:>7.0f}{r['load_ms']:>8.1f}{r['p50']:>8.2f}"
                  f"{r['p99']:>8.2f}{r['recall']:>7.3f} | {r['test_p50']:>9.2f}{r['test_p99']:>7.2f}"
                  f"{r['test_recall']:>7.3f} | {r['exact_p50']:>9.1f} | {'PASS' if meets(r) else 'FAIL'}",
                  flush=True)
    for r in rows:
        if r["sweep"]:
            print(f"{r['name']}: nprobe -> (recall@10, p50 ms) on 300 queries: "
                  + ", ".join(f"{p}: ({rec:.3f}, {t:.2f})" for p, (rec, t) in r["sweep"].items()))
    for r in rows:
        print(f"{r['name']}: CPU time of a query p50 {r['cpu_p50']:.2f} ms, p99 {r['cpu_p99']:.2f} ms; "
              f"{r['faults']} major page faults in the {queries} queries")
    for r in rows:
        print(f"{r['name']}: fresh process, start to answer {r['fresh_s']:.2f} s (import + load + "
              f"query {r['fresh_inside_s']:.2f} s), its peak RSS {r['fresh_rss_mib']:.0f} MiB")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"target p50 <= {TARGET['p50_ms']:.0f} ms, p99 <= {TARGET['p99_ms']:.0f} ms, recall@10 >= "
          f"{TARGET['recall']}: {'PASS' if all(map(meets, rows)) else 'FAIL'}")


def fixed_epochs(params: dict, epochs: int) -> dict:
    """params with every fitting running exactly `epochs` epochs."""
    p = copy.deepcopy(params)
    for section in (p, p["paper_base"], p["probe"], p["probe"]["attention"]["pool"],
                    p["probe"]["attention"]["shared_space"]):
        section.update(max_epochs=epochs, patience=epochs)
    for overrides in p["configs"].values():
        for key in ("max_epochs", "patience"):
            (overrides or {}).pop(key, None)
    p["autoencoder"]["epochs"] = epochs
    return p


def measure(cmd: list[str], cwd: Path, log: Path) -> dict:
    """Run `cmd`; its seconds, peak RSS (GB) and return code."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    tree, sampled = psutil.Process(proc.pid), 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            sampled = max(sampled, sum(p.memory_info().rss for p in [tree, *tree.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": round(time.perf_counter() - start, 2),
            "peak_rss_gb": round(max(sampled, usage.ru_maxrss * 1024) / 1e9, 3),
            "returncode": proc.returncode}


def segments_mode(n: int, epochs: int, params: dict, workdir: Path | None, keep: bool) -> None:
    root = Path(workdir or tempfile.mkdtemp(prefix="mvclr-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    params = fixed_epochs(params, epochs)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    start = time.perf_counter()
    made = write_catalogue(root, n, params)
    print(json.dumps({"catalogue": made, "seconds": round(time.perf_counter() - start, 1),
                      "workdir": str(root), "load_average": os.getloadavg()[0]}), flush=True)
    python = sys.executable
    stages = {"train": [python, "-m", "stages.train", "--config", "main"],
              **{f"train_config@{c}": [python, "-m", "stages.train", "--config", c]
                 for c in config_names(params)[1:]},
              **{s: [python, "-m", f"stages.{s}"]
                 for s in ("evaluate", "diagnose", "tables", "neighbours", "index")}}
    stages["similar"] = [python, "-m", "mvclr.cli", "similar", made["test_video"], "--root", "."]
    results = {}
    for name, cmd in stages.items():
        result = measure(cmd, root, root / "stages.log")
        results[name] = result
        print(json.dumps({"stage": name, **result, "load_average": os.getloadavg()[0]}), flush=True)
        if result["returncode"]:
            print(f"{name} failed; see {root / 'stages.log'}", file=sys.stderr)
            break
    print(json.dumps({"segments": n, "max_peak_rss_gb": max(r["peak_rss_gb"] for r in results.values()),
                      "stages": {k: {"seconds": r["seconds"], "peak_rss_gb": r["peak_rss_gb"]}
                                 for k, r in results.items()}}), flush=True)
    if not keep:
        shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--videos-index", type=int, metavar="M",
                      help="the index alone on M synthetic video vectors per representation")
    mode.add_argument("--segments", type=int, metavar="N",
                      help="every stage after embed on a synthetic catalogue of N segments")
    parser.add_argument("--representations", nargs="+", choices=REPRESENTATIONS,
                        default=list(REPRESENTATIONS))
    parser.add_argument("--queries", type=int, default=1000, help="queries per representation")
    parser.add_argument("--epochs", type=int, default=1, help="--segments: epochs of every fitting")
    parser.add_argument("--workdir", type=Path, help="--segments: the workspace (default: a new "
                        "temporary directory)")
    parser.add_argument("--keep", action="store_true", help="--segments: keep the workspace")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    if args.segments:
        segments_mode(args.segments, args.epochs, params, args.workdir, args.keep)
    else:
        videos_index(args.videos_index, args.representations, args.queries, params)


if __name__ == "__main__":
    main()
