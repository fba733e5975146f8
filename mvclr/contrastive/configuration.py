"""One training configuration end to end on the cached backbone vectors: build its projection
heads, standardise their inputs on the training split, optionally pre-train them as
autoencoders, fit them contrastively with early stopping on the validation split; the stores
are read by blocks throughout (mvclr.contrastive.sources)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mvclr.config import train_config
from mvclr.contrastive import heads
from mvclr.contrastive.autoencoder import initialise_from_autoencoders
from mvclr.contrastive.fitting import FitResult, fit
from mvclr.contrastive.sources import StoreSplit, standardisation
from mvclr.features.paired import PairedStores

FIT_KEYS = ("loss", "batch_size", "lr", "lr_gamma", "patience", "max_epochs")


@dataclass
class Trained:
    model: heads.ProjectionModel
    result: FitResult
    meta: dict                  # what heads.save stores beside the weights


def train(name: str, params: dict, stores: PairedStores) -> Trained:
    """Train configuration `name` (mvclr.config.train_config) with `params`' seed, autoencoder
    settings, rank pool and `stream.shuffle_rows`."""
    cfg = train_config(params, name)
    seed, shuffle_rows = params["seed"], params["stream"]["shuffle_rows"]
    train_rows, val_rows = StoreSplit(stores, "train"), StoreSplit(stores, "val")
    torch.manual_seed(seed)
    model = heads.build(cfg, *stores.dims)
    if cfg["standardise"]:
        model.set_standardisation(*standardisation(train_rows))
    autoencoder_loss = {}
    if cfg["ae_init"]:
        autoencoder_loss = initialise_from_autoencoders(
            model, train_rows, **params["autoencoder"], seed=seed, shuffle_rows=shuffle_rows)
    result = fit(model, train_rows, val_rows, **{k: cfg[k] for k in FIT_KEYS}, seed=seed,
                 rank_pool=params["eval"]["rank_pool"], shuffle_rows=shuffle_rows)
    meta = dict(name=name, train_config=cfg, seed=seed, best_epoch=result.best_epoch,
                best_val_loss=result.best_val_loss, epochs=len(result.history),
                n_train=train_rows.n_rows, n_val=val_rows.n_rows,
                autoencoder_loss=autoencoder_loss)
    return Trained(model, result, meta)
