"""MLP probes on video vectors (Table 2): genre classification and music tagging.

Each representation's segment vectors are aggregated to one vector per video
(mvclr.evaluation.pooling: `probe.aggregate` for Table 2, and every aggregation of
`probe.compare_aggregates` for Table 3), standardised in place with the mean and standard
deviation of the training split's videos only. Memory: the video vectors of one representation
and aggregation (no copy of them: rows are gathered per mini-batch, losses and scores computed
in chunks of rows).
Classifier: MLP with hidden layers `probe.hidden` (paper: 512, 256) and ReLU, Adam, trained on
the training split in seeded mini-batches, early stopping on the validation loss (the best
epoch's weights are kept; without validation videos the training loss is watched), evaluated
on the test split. Each (representation, task) has its own seed derived from `seed` and the
names only, so a probe's result does not depend on which other probes ran or on training.

Tasks (videos without a label for the task are left out of it):
- genre: single-label; the classes are the genres of the training videos; softmax output.
  Macro one-vs-rest ROC-AUC of the class probabilities; macro F1 of the arg-max. A test video
  whose genre no training video has stays in (it cannot be predicted right).
- tags: the `probe.top_tags` most frequent tags of the training videos (ties by name),
  multi-label with a sigmoid per tag; a video is labelled when it has any tag. Macro ROC-AUC;
  macro F1 with a per-tag threshold chosen on validation: the score that maximises the tag's
  F1 on the validation videos (0.5 when no validation video has the tag).
A class is evaluated only when the test videos hold at least one positive and one negative;
the others are listed under `excluded` and left out of both macro averages.
"""
from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import f1_score, precision_recall_curve, roc_auc_score

from mvclr.contrastive.early_stopping import EarlyStopping
from mvclr.contrastive.heads import mean_std
from mvclr.evaluation import bootstrap
from mvclr.evaluation.videos import Videos

ROWS = 8192                 # rows per chunk of statistics, losses and scores


@dataclass
class Task:
    name: str
    classes: list[str]
    multilabel: bool
    y: np.ndarray          # genre: int [n] (-1: genre unseen in training); tags: float [n, k]
    labelled: np.ndarray   # bool [n]


def standardise(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Scale every column of x (in place; returned) by the mean and std of the training rows
    (std 0 -> 1)."""
    rows = np.flatnonzero(train)
    if len(rows) == 0:
        raise ValueError("no training videos to standardise the probe inputs with")
    mean, std = mean_std(x[rows[i:i + ROWS]] for i in range(0, len(rows), ROWS))
    scale = np.where(std > 1e-8, std, 1.0)
    for i in range(0, len(x), ROWS):
        x[i:i + ROWS] = (x[i:i + ROWS] - mean) / scale
    return x


def genre_task(videos: Videos) -> Task:
    labelled = np.array([g != "" for g in videos.genre])
    train = labelled & (videos.split == "train")
    classes = sorted({g for g, t in zip(videos.genre, train) if t})
    pos = {c: i for i, c in enumerate(classes)}
    y = np.array([pos.get(g, -1) for g in videos.genre], dtype=np.int64)
    return Task("genre", classes, False, y, labelled)


def tags_task(videos: Videos, top: int) -> Task:
    labelled = np.array([len(t) > 0 for t in videos.tags])
    counts = Counter(t for tags, s, lab in zip(videos.tags, videos.split, labelled)
                     if s == "train" and lab for t in set(tags))
    classes = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    y = np.array([[c in set(tags) for c in classes] for tags in videos.tags],
                 dtype=np.float32).reshape(len(videos.tags), len(classes))
    return Task("tags", classes, True, y, labelled)


def derive_seed(seed: int, *names: str) -> int:
    """A seed for one probe from the global seed and names, stable across runs and processes."""
    return zlib.crc32("/".join([str(seed), *names]).encode())


def mlp(d_in: int, hidden: list[int], d_out: int) -> torch.nn.Sequential:
    layers, d = [], d_in
    for h in hidden:
        layers += [torch.nn.Linear(d, h), torch.nn.ReLU()]
        d = h
    return torch.nn.Sequential(*layers, torch.nn.Linear(d, d_out))


def _chunks(rows: np.ndarray):
    return (rows[i:i + ROWS] for i in range(0, len(rows), ROWS))


def train_mlp(x: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, *,
              multilabel: bool, n_out: int, hidden: list[int], lr: float, weight_decay: float,
              max_epochs: int, patience: int, batch_size: int, seed: int
              ) -> tuple[torch.nn.Module, int]:
    """Train on the rows `train` of (x, y), keep the weights of the epoch with the lowest loss on
    the rows `val` (the training rows when there are none), stop after `patience` epochs without
    improvement. Returns (model, best epoch). Runs on one CPU thread (batches this small lose more
    to thread sync than they gain) and leaves the global torch RNG untouched."""
    loss_fn = torch.nn.BCEWithLogitsLoss() if multilabel else torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.as_tensor(y, dtype=torch.float32 if multilabel else torch.int64)
    watch = val if len(val) else train

    def watched_loss(model) -> float:
        total = sum(loss_fn(model(xt[rows]), yt[rows]).item() * len(rows) for rows in _chunks(watch))
        return total / len(watch)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = mlp(xt.shape[1], hidden, n_out)
            gen = torch.Generator().manual_seed(seed)
            opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
            stopping = EarlyStopping(patience)
            for epoch in range(1, max_epochs + 1):
                model.train()
                for batch in torch.randperm(len(train), generator=gen).split(batch_size):
                    rows = torch.from_numpy(train)[batch]
                    opt.zero_grad()
                    loss_fn(model(xt[rows]), yt[rows]).backward()
                    opt.step()
                model.eval()
                with torch.no_grad():
                    val_loss = watched_loss(model)
                if stopping.update(epoch, val_loss, model):
                    break
            stopping.restore(model)
    finally:
        torch.set_num_threads(threads)
    return model.eval(), stopping.best_epoch


def choose_threshold(y_val: np.ndarray, score_val: np.ndarray) -> float:
    """The score maximising F1 on validation (predict positive when score >= it); 0.5 when
    there is no positive validation example."""
    if len(y_val) == 0 or not np.any(y_val):
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y_val, score_val)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[np.argmax(f1[:-1])])


def score(task: Task, y_test: np.ndarray, scores: np.ndarray, thresholds: np.ndarray | None) -> dict:
    """Macro ROC-AUC over the classes with a positive and a negative test video; macro F1 over
    every class that has a positive test video or is predicted for one (a class the model
    predicts but the test split lacks counts, with F1 0, so its false positives are paid for).
    Genre: F1 of the arg-max; tags: F1 with the per-tag thresholds chosen on validation and,
    as a plain protocol, F1 at threshold 0.5 (`f1_at_half`)."""
    truth = test_truth(task, y_test)
    if task.multilabel:
        preds = {"f1": scores >= thresholds, "f1_at_half": scores >= 0.5}
    else:
        preds = {"f1": scores.argmax(axis=1)[:, None] == np.arange(len(task.classes))[None, :]}
    evaluated = auc_classes(truth)
    out = {"auc": float(np.mean([roc_auc_score(truth[:, k], scores[:, k]) for k in evaluated]))
           if evaluated else None}
    for key, pred in preds.items():
        counted = [k for k in range(len(task.classes)) if truth[:, k].any() or pred[:, k].any()]
        out[key] = float(np.mean([f1_score(truth[:, k], pred[:, k], zero_division=0)
                                  for k in counted])) if counted else None
        out[f"{key}_classes"] = len(counted)
    return {**out, "n_evaluated": len(evaluated),
            "excluded": [c for k, c in enumerate(task.classes) if k not in evaluated]}


def test_truth(task: Task, y_test: np.ndarray) -> np.ndarray:
    """bool [n_test, classes]: which class each test video has (a genre unseen in training
    has none of them)."""
    if task.multilabel:
        return y_test.astype(bool)
    return y_test[:, None] == np.arange(len(task.classes))[None, :]


def auc_classes(truth: np.ndarray) -> list[int]:
    """The classes with a positive and a negative test video: those a ROC-AUC is defined for."""
    positives = truth.sum(axis=0)
    return [k for k in range(truth.shape[1]) if 0 < positives[k] < len(truth)]


def macro_auc_statistic(truth: np.ndarray, scores: np.ndarray):
    """Bootstrap statistic (weights over test videos [B, n] -> [B]): the macro ROC-AUC over
    the classes a resample has both positives and negatives of."""
    classes = auc_classes(truth)

    def statistic(w: np.ndarray) -> np.ndarray:
        aucs = [bootstrap.weighted_auc(scores[truth[:, k], k], scores[~truth[:, k], k],
                                       w[:, truth[:, k]], w[:, ~truth[:, k]]) for k in classes]
        if not aucs:
            return np.full(len(w), np.nan)
        aucs = np.stack(aucs)
        counted = np.isfinite(aucs).sum(axis=0)
        return np.where(counted > 0, np.nansum(aucs, axis=0) / np.maximum(counted, 1), np.nan)
    return statistic


@dataclass
class TestScores:
    """A probe's scores of its test videos: what its test metrics and their intervals use."""
    truth: np.ndarray          # bool [n_test, classes]
    scores: np.ndarray         # float [n_test, classes]
    videos: np.ndarray         # indices of the test videos into the video table


def run_probe(x: np.ndarray, split: np.ndarray, task: Task, cfg: dict,
              seed: int) -> tuple[dict, TestScores | None]:
    """Train and test one probe. x: standardised video vectors [n, d]; cfg: params `probe`.
    The metrics, and the test scores (None when the probe cannot run)."""
    train = np.flatnonzero(task.labelled & (split == "train"))
    val_mask = task.labelled & (split == "val")
    test = np.flatnonzero(task.labelled & (split == "test"))
    if not task.multilabel:
        val_mask &= task.y >= 0                  # a genre unseen in training has no output
    val = np.flatnonzero(val_mask)
    counts = {"n_classes": len(task.classes), "n_train": len(train),
              "n_val": len(val), "n_test": len(test)}
    if not task.classes or not len(train) or not len(test):
        return {"auc": None, "f1": None, "n_evaluated": 0, "excluded": list(task.classes),
                **counts, "classes": task.classes}, None
    model, epoch = train_mlp(
        x, task.y, train, val, multilabel=task.multilabel,
        n_out=len(task.classes), hidden=list(cfg["hidden"]), lr=cfg["lr"],
        weight_decay=cfg["weight_decay"], max_epochs=cfg["max_epochs"],
        patience=cfg["patience"], batch_size=cfg["batch_size"], seed=seed)
    activation = torch.sigmoid if task.multilabel else (lambda z: torch.softmax(z, dim=1))

    def scores(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([activation(model(torch.from_numpy(x[r]))).numpy()
                                   for r in _chunks(rows)] or [np.zeros((0, len(task.classes)), np.float32)])

    thresholds = None
    if task.multilabel:
        val_scores = scores(val)
        thresholds = np.array([choose_threshold(task.y[val, k], val_scores[:, k])
                               for k in range(len(task.classes))])
    test_scores = scores(test)
    result = {**score(task, task.y[test], test_scores, thresholds), **counts,
              "best_epoch": epoch, "classes": task.classes}
    if thresholds is not None:
        result["thresholds"] = [float(t) for t in thresholds]
    return result, TestScores(test_truth(task, task.y[test]), test_scores, test)


def probe_tasks(x_video: np.ndarray, videos: Videos, cfg: dict, seed: int,
                name: str) -> dict[str, tuple[dict, TestScores | None]]:
    """Genre and tag probes of one representation's video vectors (standardised in place), with
    their test scores."""
    x = standardise(x_video, videos.split == "train")
    tasks = (genre_task(videos), tags_task(videos, cfg["top_tags"]))
    return {t.name: run_probe(x, videos.split, t, cfg, derive_seed(seed, name, t.name))
            for t in tasks}


def probe_representation(x_video: np.ndarray, videos: Videos, cfg: dict, seed: int,
                         name: str) -> dict[str, dict]:
    """Genre and tag probes of one representation's video vectors: their metrics."""
    return {task: result for task, (result, _) in
            probe_tasks(x_video, videos, cfg, seed, name).items()}


def probe_aggregations(vectors, videos: Videos, cfg: dict, seed: int, name: str,
                       n_boot: int = 0) -> dict:
    """Probes of one representation: the full results of aggregation cfg["aggregate"] (Table 2)
    and, under "by_aggregate", AUC and F1 of every aggregation of cfg["compare_aggregates"].
    vectors(how) gives the video vectors [n_videos, d] under aggregation `how` (a fresh float32
    array: the probes standardise it in place). Every aggregation's probes share their seeds, so
    they differ by the video vectors only. With n_boot: 95 % bootstrap intervals over test videos
    of each AUC (`auc_ci95`) and of each aggregation's AUC minus the primary one's
    (`auc_minus_primary_ci95`, same resamples)."""
    def run(how: str) -> dict:
        return probe_tasks(vectors(how), videos, cfg, seed, name)

    def ci(statistic, test: TestScores) -> list[float]:
        return bootstrap.interval(statistic, test.videos, n_boot, seed)

    primary = cfg["aggregate"]
    runs = {primary: run(primary)}
    for how in cfg.get("compare_aggregates", []):
        runs.setdefault(how, run(how))
    out = {task: dict(result) for task, (result, _) in runs[primary].items()}
    out.update(aggregate=primary, by_aggregate={})
    for how in cfg.get("compare_aggregates", []):
        entry = {}
        for task, (result, test) in runs[how].items():
            entry[task] = {"auc": result["auc"], "f1": result["f1"]}
            base = runs[primary][task][1]
            if n_boot and test is not None and result["auc"] is not None:
                mine = macro_auc_statistic(test.truth, test.scores)
                theirs = macro_auc_statistic(base.truth, base.scores)
                entry[task]["auc_ci95"] = ci(mine, test)
                entry[task]["auc_minus_primary_ci95"] = ci(lambda w: mine(w) - theirs(w), test)
        out["by_aggregate"][how] = entry
    if n_boot:
        for task, (result, test) in runs[primary].items():
            if test is not None and result["auc"] is not None:
                out[task]["auc_ci95"] = ci(macro_auc_statistic(test.truth, test.scores), test)
    return out
