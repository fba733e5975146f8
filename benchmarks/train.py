"""Training throughput: seconds per epoch of the training loop (mvclr.contrastive.fitting.train_epoch on
the batches of mvclr.contrastive.batching) on a synthetic cache of 500 000 segment pairs with the paper's
dimensions (musicnn 1506, R(2+1)D 512; six segments per video; CL_base heads, batch 1000),
against a bare loop over the same batches gathered beforehand into separate tensors: the same
forward passes, losses, backward passes and Adam steps, without sampler, row gathering or
bookkeeping, measured in the same run. Both start from the same weights and optimiser state
and see the same batches in the same order, so they compute the same trajectory (no difference
from, e.g., slow denormal floats in one of them). The ratio bare/loop is the share of the epoch
that is the model's own work; the rest is the sampler's and the loop's overhead (target >= 0.8).
Needs memory for the cache twice (about 8 GB at the default size).

    python benchmarks/train.py [--segments N] [--steps K]

--steps K times only the first K batches of each epoch (the sampler still draws the whole
epoch) and scales both to the full epoch: a quicker, noisier estimate.
"""
import argparse
import copy
import time

import numpy as np
import torch

from mvclr.contrastive import fitting as training
from mvclr.contrastive import heads
from mvclr.contrastive.batching import epoch_batches
from mvclr.config import load_params, train_config
from mvclr.contrastive.losses import contrastive_loss

AUDIO_DIM, VIDEO_DIM, SEGMENTS_PER_VIDEO = 1506, 512, 6


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=500_000)
    parser.add_argument("--steps", type=int, default=None, help="batches timed per epoch")
    args = parser.parse_args()
    cfg = train_config(load_params(), "cl_base")
    device = training.default_device()
    rng = np.random.default_rng(0)
    n = args.segments
    audio = torch.from_numpy(rng.standard_normal((n, AUDIO_DIM), dtype=np.float32)).to(device)
    video = torch.from_numpy(rng.standard_normal((n, VIDEO_DIM), dtype=np.float32)).to(device)
    video_ids = np.repeat(np.arange(-(-n // SEGMENTS_PER_VIDEO)), SEGMENTS_PER_VIDEO)[:n]
    torch.manual_seed(0)
    model = heads.build(cfg, AUDIO_DIM, VIDEO_DIM).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = contrastive_loss(cfg["loss"])
    batches = len(epoch_batches(video_ids, cfg["batch_size"], np.random.default_rng(0)))
    steps = min(args.steps or batches, batches)
    training.train_epoch(model, optimiser, cfg["loss"], audio, video,   # warm-up
                         epoch_batches(video_ids[:4000], cfg["batch_size"], rng))
    start_state = copy.deepcopy((model.state_dict(), optimiser.state_dict()))
    order = epoch_batches(video_ids, cfg["batch_size"], np.random.default_rng(1))[:steps]
    gathered = [(audio[idx], video[idx]) for idx in map(torch.as_tensor, order)]

    def restart() -> None:
        model.load_state_dict(start_state[0])
        optimiser.load_state_dict(start_state[1])

    def bare_epoch() -> float:
        restart()
        start = time.perf_counter()
        model.train()
        for a_batch, v_batch in gathered:
            loss = loss_fn(*model(a_batch, v_batch), model.tau)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        sync(device)
        return (time.perf_counter() - start) * batches / steps

    def loop_epoch() -> float:
        restart()
        start = time.perf_counter()
        epoch = epoch_batches(video_ids, cfg["batch_size"], np.random.default_rng(1))
        sampled = time.perf_counter() - start
        start = time.perf_counter()
        training.train_epoch(model, optimiser, cfg["loss"], audio, video, epoch[:steps])
        sync(device)
        return sampled + (time.perf_counter() - start) * batches / steps

    bare, loop = bare_epoch(), loop_epoch()
    print(f"training epoch, {n} segment pairs ({AUDIO_DIM}+{VIDEO_DIM} dims), {batches} batches "
          f"of <= {cfg['batch_size']}{'' if steps == batches else f' ({steps} timed)'}, "
          f"{device.type}, {torch.get_num_threads()} threads: loop {loop:.1f} s/epoch, "
          f"bare {bare:.1f} s/epoch, ratio bare/loop {bare / loop:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
