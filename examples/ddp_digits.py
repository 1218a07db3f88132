"""Train the book's digit classifier with DistributedDataParallel (DDP).

Launch it with torchrun, e.g. two processes on this machine, talking over
the loopback interface:

    OMP_NUM_THREADS=1 GLOO_SOCKET_IFNAME=lo torchrun --nproc_per_node=2 \\
        --master_addr=127.0.0.1 --master_port=29500 \\
        examples/ddp_digits.py --steps 40 --out ddp.npz

Every process builds the same network (srelu_lib's initial parameters,
float64) and walks through the same shuffled mini-batches as
``srelu_lib.train.train`` (one seeded generator); process ``r`` of ``P``
trains on the ``r``-th contiguous ``1/P`` of each batch.  DDP averages the
gradients over the processes during ``backward`` (an all-reduce over the
gloo backend), so with equal shares every process applies the gradient of
the whole batch, and the parameters equal those of one process trained on
the whole batches.  Process 0 saves the parameters after the last step (in
srelu_lib's layouts) and the whole batch's loss at every step to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from srelu_lib.digits import initialize_parameters, load_digits_split
from srelu_lib.torch.digits import DigitsNet, images_to_nchw, train_step
from srelu_lib.train import minibatches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32,
                        help="images per step, over all processes")
    parser.add_argument("--learn-rate", type=float, default=0.003)
    parser.add_argument("--seed", type=int, default=0,
                        help="initial parameters and batch order")
    parser.add_argument("--out", required=True,
                        help="where process 0 saves the result (.npz)")
    args = parser.parse_args()

    dist.init_process_group("gloo")  # rank, world size, address: torchrun
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size must be a multiple of {world}")
    share = args.batch_size // world
    start = time.perf_counter()

    data = load_digits_split()
    initial = initialize_parameters(np.random.default_rng(args.seed))
    net = DigitsNet.from_srelu_lib(initial)
    model = DistributedDataParallel(net)  # all-reduces the gradients
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learn_rate)
    order = np.random.default_rng(args.seed)
    losses: list[float] = []
    while len(losses) < args.steps:
        for X, y in minibatches(data.X_train, data.y_train, args.batch_size,
                                seed=order, drop_last=True):
            assert y is not None
            mine = slice(rank * share, (rank + 1) * share)
            x_mine = images_to_nchw(X[..., mine])
            local = train_step(model, optimizer, x_mine,
                               torch.from_numpy(y[mine]))
            total = torch.tensor(local, dtype=torch.float64)
            dist.all_reduce(total)  # mean of equal shares' mean losses
            losses.append(total.item() / world)
            if len(losses) == args.steps:
                break

    if rank == 0:
        result: dict[str, Any] = {
            f"{group}/{name}": value
            for group, entries in net.srelu_lib_parameters().items()
            for name, value in entries.items()
        }
        result["loss"] = np.array(losses)
        result["seconds"] = np.array(time.perf_counter() - start)
        np.savez(args.out, **result)
        print(f"{world} processes (gloo), {args.steps} steps of "
              f"{args.batch_size} images, {share} per process")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
