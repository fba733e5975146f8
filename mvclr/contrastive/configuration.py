"""One training configuration end to end on the cached backbone vectors: build its projection
heads, standardise their inputs on the training split, optionally pre-train them as
autoencoders, fit them contrastively with early stopping on the validation split."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mvclr.config import train_config
from mvclr.contrastive import heads
from mvclr.contrastive.autoencoder import initialise_from_autoencoders
from mvclr.contrastive.fitting import FitResult, Pairs, fit
from mvclr.features.paired import PairedFeatures

FIT_KEYS = ("loss", "batch_size", "lr", "lr_gamma", "patience", "max_epochs")


@dataclass
class Trained:
    model: heads.ProjectionModel
    result: FitResult
    meta: dict                  # what heads.save stores beside the weights


def split_pairs(features: PairedFeatures, split: str) -> Pairs:
    rows = features.rows(split)
    return Pairs(features.audio[rows], features.video[rows], features.meta.video_id[rows])


def train(name: str, params: dict, features: PairedFeatures) -> Trained:
    """Train configuration `name` (mvclr.config.train_config) with `params`' seed, autoencoder
    settings and rank pool."""
    cfg = train_config(params, name)
    seed = params["seed"]
    train_pairs, val_pairs = split_pairs(features, "train"), split_pairs(features, "val")
    torch.manual_seed(seed)
    model = heads.build(cfg, features.audio.shape[1], features.video.shape[1])
    if cfg["standardise"]:
        model.set_standardisation(train_pairs.audio, train_pairs.video)
    autoencoder_loss = {}
    if cfg["ae_init"]:
        autoencoder_loss = initialise_from_autoencoders(
            model, train_pairs, **params["autoencoder"], seed=seed)
    result = fit(model, train_pairs, val_pairs, **{k: cfg[k] for k in FIT_KEYS}, seed=seed,
                 rank_pool=params["eval"]["rank_pool"])
    meta = dict(name=name, train_config=cfg, seed=seed, best_epoch=result.best_epoch,
                best_val_loss=result.best_val_loss, epochs=len(result.history),
                n_train=len(train_pairs.video_ids), n_val=len(val_pairs.video_ids),
                autoencoder_loss=autoencoder_loss)
    return Trained(model, result, meta)
