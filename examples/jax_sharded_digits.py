"""Train the book's digit classifier in JAX with each batch sharded over two devices, and on one device.

    python examples/jax_sharded_digits.py --steps 40 --out jax.npz

JAX runs on the CPU here, which is one device; ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
splits it into two host devices.  The flag is read when JAX starts, so this script sets it (unless
it is set already) before it imports JAX; that is why it runs as its own process.

The same jit-compiled step (``srelu_lib.jax.digits.train_step``) runs twice from srelu_lib's
initial parameters (float64) on the same mini-batches as ``srelu_lib.train.train``: once with
every array on one device, once with the images and targets sharded along their batch axis over
a two-device mesh and the parameters replicated.  XLA partitions the sharded step and sums the
gradients across the devices; the parameters of the two runs must agree.  The script saves both
runs' parameters (srelu_lib's layouts) and losses to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")  # before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from srelu_lib.digits import initialize_parameters, load_digits_split  # noqa: E402
from srelu_lib.jax.digits import from_srelu_lib, train_step  # noqa: E402
from srelu_lib.train import minibatches, onehot  # noqa: E402

jax.config.update("jax_enable_x64", True)


def run(steps: int, batch_size: int, learn_rate: float, seed: int, mesh: jax.sharding.Mesh | None):
    """``steps`` Adam steps; with a mesh, batches are sharded along the batch axis over its devices."""
    data = load_digits_split()
    T_train = onehot(data.y_train, 10, np.float64)
    params = from_srelu_lib(initialize_parameters(np.random.default_rng(seed)))
    if mesh is not None:
        params = jax.device_put(params, NamedSharding(mesh, P()))  # replicated on every device
        put_X = NamedSharding(mesh, P(None, None, None, "batch"))  # (H, W, C, B): split B
        put_T = NamedSharding(mesh, P(None, "batch"))  # (10, B)
    avg_g = jax.tree.map(jnp.zeros_like, params)
    avg_sq_g = jax.tree.map(jnp.zeros_like, params)
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    shards: list[tuple[int, ...]] = []
    while len(losses) < steps:
        for X_batch, T_batch in minibatches(data.X_train, T_train, batch_size, seed=rng, drop_last=True):
            X, T = jnp.asarray(X_batch), jnp.asarray(T_batch)
            if mesh is not None:
                X, T = jax.device_put(X, put_X), jax.device_put(T, put_T)
                shards = [tuple(s.data.shape) for s in X.addressable_shards]
            params, avg_g, avg_sq_g, loss = train_step(params, avg_g, avg_sq_g, jnp.float64(len(losses) + 1), X, T,
                                                       learn_rate)
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
    parser.add_argument("--out", required=True, help="where to save both runs (.npz)")
    args = parser.parse_args()
    devices = jax.devices()
    if len(devices) < 2:
        raise SystemExit(f"needs 2 devices, found {devices}: was JAX imported before XLA_FLAGS was set?")
    mesh = jax.make_mesh((2,), ("batch",), devices=devices[:2])
    start = time.perf_counter()
    single, single_loss, _ = run(args.steps, args.batch_size, args.learn_rate, args.seed, mesh=None)
    sharded, sharded_loss, shards = run(args.steps, args.batch_size, args.learn_rate, args.seed, mesh=mesh)
    flat = {f"{run_name}/{group}/{name}": value
            for run_name, params in (("single", single), ("sharded", sharded))
            for group, entries in params.items() for name, value in entries.items()}
    flat.update(single_loss=single_loss, sharded_loss=sharded_loss, seconds=np.array(time.perf_counter() - start))
    np.savez(args.out, **flat)
    print(f"devices: {', '.join(str(d) for d in devices)}")
    print(f"{args.steps} steps of {args.batch_size} images; each batch's image shards: {shards}")


if __name__ == "__main__":
    main()
