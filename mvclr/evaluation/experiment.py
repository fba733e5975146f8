"""The evaluation of every trained configuration: Table 1 (cross-modal median ranks on the test
split) and Table 2 (MLP probes of the six representations, and of the CL embeddings of the
configurations listed in `probe.configs`, named e.g. cl_audio@aligned; every representation
under each aggregation of `probe.compare_aggregates`).

Scale: one pass over the stores embeds the test rows of every configuration and every row of the
probed ones, to files in a scratch directory (mvclr.evaluation.embedded); each representation's
video vectors are then aggregated by a stream of blocks and probed one (representation,
aggregation) at a time, so memory holds one block and one video-vector matrix.
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from mvclr.config import config_names
from mvclr.contrastive import heads
from mvclr.contrastive.sources import StoreSplit
from mvclr.evaluation import attention_pool, probes, table1
from mvclr.evaluation.embedded import embedder, spill
from mvclr.evaluation.pooling import REPRESENTATIONS, MODALITIES, pair_blocks, video_vectors
from mvclr.evaluation.rowfile import RowFile
from mvclr.evaluation.videos import Videos
from mvclr.features.paired import PairedStores


def probed_configs(params: dict) -> list[str]:
    """`main` and the configurations of `probe.configs`; a KeyError names unknown ones."""
    names = config_names(params)
    listed = params["probe"].get("configs", [])
    unknown = [n for n in listed if n not in names]
    if unknown:
        raise KeyError(f"probe.configs names {unknown}, not configurations of params.yaml "
                       f"(known: {', '.join(names)})")
    return ["main", *[n for n in listed if n != "main"]]


def embed_configs(params: dict, stores: PairedStores, probed: list[str], directory: Path
                  ) -> tuple[dict, dict]:
    """(za, zv) RowFiles of the test rows of every configuration, and of all rows of the
    `probed` ones, from one pass over the stores."""
    if not len(stores.layout.videos_of("test")):
        raise ValueError("the segment store holds no test segments")
    models = {name: heads.load_trained(name) for name in config_names(params)}
    jobs = {f"test_{name}": (embedder(model), "test") for name, model in models.items()}
    jobs.update({f"all_{name}": (embedder(models[name]), None) for name in probed})
    out = spill(stores, jobs, directory)
    return ({name: out[f"test_{name}"] for name in models},
            {name: out[f"all_{name}"] for name in probed})


def retrieval_report(params: dict, stores: PairedStores, test: dict) -> dict:
    """Table 1 of every configuration from its test embeddings, with bootstrap intervals."""
    pool, seed, n_boot = params["eval"]["rank_pool"], params["seed"], params["eval"]["bootstrap"]
    ids = stores.layout.row_codes(stores.layout.videos_of("test"))
    entries = {name: table1.evaluate(za, zv, pool, ids, seed, n_boot)
               for name, (za, zv) in tqdm(test.items(), desc="retrieval")}
    return {"rank_pool": pool, "bootstrap": n_boot, "main": entries.pop("main"), "configs": entries}


def attention_weights(params: dict, stores: PairedStores, videos: Videos,
                      embedded: dict, directory: Path) -> dict[str, RowFile]:
    """Per-segment attention weights [n_segments, 2] (audio, video) of each pair: `frozen`
    (musicnn, R(2+1)D first mapped into one space) and each probed configuration's (za, zv),
    fitted on the training videos with a seed of their own (so the frozen pair's weights never
    depend on the trained models)."""
    cfg, seed = params["probe"]["attention"], params["seed"]
    counts, n = stores.layout.count, stores.n_segments
    pairs = dict(embedded)
    frozen_seed = probes.derive_seed(seed, "attention", "frozen")
    space = attention_pool.shared_space(StoreSplit(stores, "train"), StoreSplit(stores, "val"),
                                        **cfg["shared_space"], seed=frozen_seed,
                                        shuffle_rows=params["stream"]["shuffle_rows"])
    pairs["frozen"] = spill(stores, {"shared": (embedder(space), None)}, directory)["shared"]
    return {pair: attention_pool.segment_weights(
                za, zv, counts, videos.split, RowFile(directory / f"weights_{pair}.npy", n),
                **cfg["pool"], seed=probes.derive_seed(seed, "attention", pair))
            for pair, (za, zv) in pairs.items()}


def probe_report(params: dict, stores: PairedStores, videos: Videos, embedded: dict,
                 directory: Path) -> dict:
    """Table 2 (and 3): the frozen features and main's embeddings, then the other probed
    configurations' embeddings, each under every compared aggregation."""
    cfg, seed = params["probe"], params["seed"]
    counts = stores.layout.count
    weights = {}
    if "attention" in cfg.get("compare_aggregates", []):
        weights = attention_weights(params, stores, videos, embedded, directory)
    jobs = []          # (probe name, representation, configuration: None for the frozen features)
    for config in embedded:
        for rep in (REPRESENTATIONS if config == "main" else
                    [r for r in REPRESENTATIONS if r.startswith("cl_")]):
            frozen = not rep.startswith("cl_")
            jobs.append((rep if config == "main" else f"{rep}@{config}", rep, None if frozen else config))

    def vectors(rep: str, config: str | None):
        def of(how: str):
            if config is None:
                need = MODALITIES[rep]
                blocks = stores.video_blocks(audio="audio" in need, video="video" in need)
            else:
                blocks = pair_blocks(*embedded[config], counts)
            return video_vectors(blocks, rep, counts, how,
                                 weights=weights.get("frozen" if config is None else config))
        return of

    return {name: probes.probe_aggregations(vectors(rep, config), videos, cfg, seed, name,
                                            params["eval"]["bootstrap"])
            for name, rep, config in tqdm(jobs, desc="probes")}
