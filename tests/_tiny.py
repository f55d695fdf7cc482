"""Small simulations for runner and backend tests, in an importable module.

dask workers unpickle the tasks they run, so a simulation subclass used with the distributed
backend must live in a module the worker processes can import (not in a test file's body).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from theorycheck.simulation import Evaluation, Simulation
from theorycheck.simulations.lazy_gradient import LazyGradient, LazyGradientConfig
from theorycheck.simulations.lazy_sign_flips import LazySignFlips, SignFlipConfig
from theorycheck.simulations.quadratic_rf import QuadraticRF, RFConfig
from theorycheck.verdicts import bound_verdict


class TinySignFlips(LazySignFlips):
    """lazy-sign-flips on a grid small enough for a unit test: 2 configs x ``n_blocks`` blocks."""

    n_blocks = 3

    def _configs(self, profile):
        for m in (30, 200):
            yield SignFlipConfig(m, 3, (1.0, 5.0), (0.1,), networks_per_block=20,
                                 n_blocks=self.n_blocks)  # fmt: skip


class ExactTinySignFlips(LazySignFlips):
    """lazy-sign-flips on the exact sampler, with the replicates a gamma = 0.1 bound needs for
    power (500 >= replicates_for_power(0.1) = 472): 2 widths x 2 blocks of 250 networks."""

    def _configs(self, profile):
        for m in (50, 400):
            yield SignFlipConfig(m, 3, (1.0, 5.0), (0.1,), networks_per_block=250, n_blocks=2,
                                 path="exact")  # fmt: skip


class SlowTinySignFlips(TinySignFlips):
    """TinySignFlips with 12 blocks, each also waiting ``delay`` seconds.

    The wait changes no number (it draws nothing); it only makes a sweep last long enough for a
    test to kill a worker or the driver while blocks are in flight. ``delay = 0`` gives the same
    stored results at full speed.
    """

    n_blocks = 6

    def __init__(self, delay: float = 0.5):
        self.delay = delay

    def measure(self, config, rng):
        time.sleep(self.delay)
        return super().measure(config, rng)


#: Failure probability of the coins' bound.
GAMMA = 0.1


@dataclass(frozen=True)
class CoinConfig:
    rate: float
    per_block: int = 20
    n_blocks: int = 2


class Coins(Simulation):
    """X = 1 (exceeds the bound 0.5) with probability ``rate`` per replicate."""

    id = "coins"
    title = "coins"
    max_block_factor = 8

    def _configs(self, profile):
        yield CoinConfig(0.04)  # well below gamma: HOLDS once there are enough replicates
        yield CoinConfig(0.30)  # far above: VIOLATED at the first look

    def measure(self, config, rng):
        return pd.DataFrame({"x": (rng.random(config.per_block) < config.rate).astype(float)})

    def evaluate(self, data):
        rows = [
            bound_verdict("toy.coin", self.id, {"rate": cfg.rate}, "X", df["x"], 0.5, GAMMA)
            for cfg, df in data.items()
        ]
        return Evaluation(rows, pd.DataFrame())


class FixedCoins(Coins):
    id = "fixed-coins"
    max_block_factor = 1


class TinyQuadraticRF(QuadraticRF):
    """quadratic-rf at one grid line, d = 30: large enough that OpenBLAS splits its products
    over 2 threads (without the runner's one-thread pin, 2 BLAS threads change the last bits of
    the end-to-end columns), small enough for a test (about 0.3 s a block)."""

    def _configs(self, profile):
        yield RFConfig(activation="relu", d=30, psis=(0.5, 2.0), F1sq=1.0, F2sq=1.0, Ftrsq=0.0,
                       mc_samples=4000, train_ratio=5, n_blocks=2)  # fmt: skip


class TinyLazyGradient(LazyGradient):
    """lazy-gradient (networks trained in the lazy ball) on one tiny grid point, 2 blocks."""

    def _configs(self, profile):
        yield LazyGradientConfig(10, 100, 10.0, (0.1,), 3, 1, 2)


class ManyTinySignFlips(TinySignFlips):
    """TinySignFlips with 8 blocks per config: a run long enough to interrupt at random points."""

    n_blocks = 8
