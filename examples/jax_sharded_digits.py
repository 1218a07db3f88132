"""Train the book's digit classifier in JAX, sharded over two devices and not.

    python examples/jax_sharded_digits.py --steps 40 --out jax.npz

JAX on a CPU sees one device; the flag
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` splits it into two
host devices.  JAX reads the flag when it starts, so this script sets it
(unless it is set already) before it imports JAX; that is why it runs as a
process of its own.

The same jit-compiled step (``srelu_lib.jax.digits.train_step``) runs twice,
from srelu_lib's initial parameters (float64) on the same mini-batches as
``srelu_lib.train.train``: once with every array on one device, once with
the images and targets sharded along their batch axis over a two-device mesh
and the parameters replicated.  XLA partitions the sharded step and sums the
gradients across the devices; the two runs' parameters must agree.  Both
runs' parameters (srelu_lib's layouts) and losses go to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import jax  # noqa: E402  (after XLA_FLAGS)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from srelu_lib.digits import (  # noqa: E402
    initialize_parameters,
    load_digits_split,
)
from srelu_lib.jax.digits import from_srelu_lib, train_step  # noqa: E402
from srelu_lib.train import minibatches, onehot  # noqa: E402

jax.config.update("jax_enable_x64", True)


def run(steps: int, batch_size: int, learn_rate: float, seed: int,
        mesh: jax.sharding.Mesh | None) -> tuple[Any, np.ndarray, list]:
    """``steps`` Adam steps; with a mesh, each batch is split over it."""
    data = load_digits_split()
    T_train = onehot(data.y_train, 10, np.float64)
    params = from_srelu_lib(initialize_parameters(np.random.default_rng(seed)))
    if mesh is not None:
        params = jax.device_put(params, NamedSharding(mesh, P()))  # copies
        put_X = NamedSharding(mesh, P(None, None, None, "batch"))  # split B
        put_T = NamedSharding(mesh, P(None, "batch"))
    avg_g = jax.tree.map(jnp.zeros_like, params)
    avg_sq_g = jax.tree.map(jnp.zeros_like, params)
    order = np.random.default_rng(seed)
    losses: list[float] = []
    shards: list[tuple[int, ...]] = []
    while len(losses) < steps:
        for X_batch, T_batch in minibatches(data.X_train, T_train, batch_size,
                                            seed=order, drop_last=True):
            X, T = jnp.asarray(X_batch), jnp.asarray(T_batch)
            if mesh is not None:
                X, T = jax.device_put(X, put_X), jax.device_put(T, put_T)
                shards = [tuple(s.data.shape) for s in X.addressable_shards]
            t = jnp.float64(len(losses) + 1)
            params, avg_g, avg_sq_g, loss = train_step(
                params, avg_g, avg_sq_g, t, X, T, learn_rate)
            losses.append(float(loss))
            if len(losses) == steps:
                break
    return jax.tree.map(np.asarray, params), np.array(losses), shards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learn-rate", type=float, default=0.003)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True,
                        help="where to save both runs (.npz)")
    args = parser.parse_args()
    devices = jax.devices()
    if len(devices) < 2:
        raise SystemExit(f"needs 2 devices, found {devices}: was JAX "
                         "imported before XLA_FLAGS was set?")
    mesh = jax.make_mesh((2,), ("batch",), devices=devices[:2])
    start = time.perf_counter()
    settings = (args.steps, args.batch_size, args.learn_rate, args.seed)
    single, single_loss, _ = run(*settings, mesh=None)
    sharded, sharded_loss, shards = run(*settings, mesh=mesh)
    result: dict[str, Any] = {
        f"{name}/{group}/{key}": value
        for name, params in (("single", single), ("sharded", sharded))
        for group, entries in params.items()
        for key, value in entries.items()
    }
    result["single_loss"] = single_loss
    result["sharded_loss"] = sharded_loss
    result["seconds"] = np.array(time.perf_counter() - start)
    np.savez(args.out, **result)
    print("devices:", ", ".join(str(d) for d in devices))
    print(f"{args.steps} steps of {args.batch_size} images; "
          f"each batch's image shards: {shards}")


if __name__ == "__main__":
    main()
