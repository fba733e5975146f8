"""Early stopping on a validation loss, keeping the weights of the best epoch."""
from __future__ import annotations

import copy
import math

from torch import nn


class EarlyStopping:
    """Call `update(epoch, loss, module)` after every epoch: it remembers the weights of the
    epoch with the lowest loss and returns True once `patience` epochs have passed without a
    strict improvement. `restore(module)` loads the remembered weights."""

    def __init__(self, patience: int):
        self.patience = patience
        self.best, self.best_epoch, self.state = math.inf, 0, None

    def update(self, epoch: int, loss: float, module: nn.Module) -> bool:
        if loss < self.best:
            self.best, self.best_epoch = loss, epoch
            self.state = copy.deepcopy(module.state_dict())
            return False
        return epoch - self.best_epoch >= self.patience

    def restore(self, module: nn.Module) -> None:
        if self.state is None:
            raise FloatingPointError("the validation loss was never finite")
        module.load_state_dict(self.state)
