"""Pieces shared by simulations: the ``python -m theorycheck.simulations.<module>`` entry,
summaries, the
choice between the exact laws and materialised networks at initialisation, and the ``trained``
family of the lazy-regime simulations."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from theorycheck.data import BUILTIN, check_data, describe_data, load_task
from theorycheck.data import DEFAULT as DEFAULT_DATA
from theorycheck.exact import SAMPLER_PATHS, sample_init_statistics
from theorycheck.network import Network, NetworkSpec, input_radius
from theorycheck.simulation import Simulation
from theorycheck.stats import mean_ci
from theorycheck.streaming import sample_stream_statistics
from theorycheck.training import TeacherTask, TrainResult, cluster_task, train_lazy

#: Samplers of per-network statistics at initialisation (one input each) that never materialise
#: W: the exact laws (O(m) per network) and the counter-based stream (O(d) memory). Both give f,
#: grad_norm and flippable for the given radii.
STREAMED = {"exact": sample_init_statistics, "streaming": sample_stream_statistics}


class InitPathSimulation(Simulation):
    """A simulation at initialisation whose configs carry a ``path`` field: ``exact`` (the d-free
    laws of docs/theory.md Sec. 4.1, :func:`theorycheck.exact.sample_init_statistics`) where they
    apply, i.e. relu without biases, else ``numba`` or ``reference`` (materialised networks)."""

    paths = SAMPLER_PATHS

    def supports_path(self, config, path: str) -> bool:
        return super().supports_path(config, path) and (path != "exact" or exact_applies(config))


class StreamingPathMixin:
    """For simulations whose measurements (f, ||grad f||, |S_R|) the streaming path also gives
    (relu without biases, like the exact laws)."""

    paths = ("exact", "streaming", "numba", "reference")

    def supports_path(self, config, path: str) -> bool:
        ok = Simulation.supports_path(self, config, path)
        return ok and (path not in STREAMED or exact_applies(config))


def exact_applies(config) -> bool:
    """Whether the exact laws cover ``config``: relu (a = +-1) without biases (docs/theory.md Sec.
    4)."""
    return getattr(config, "activation", "relu") == "relu" and not getattr(config, "biases", False)


def default_path(activation: str = "relu", biases: bool = False) -> str:
    """The path a config uses unless the user chooses: exact where it applies, else numba."""
    return "exact" if activation == "relu" and not biases else "numba"


def main(simulation, argv: list[str] | None = None) -> None:
    """Run one simulation as ``theorycheck run <id>`` would (same options, same store); other
    simulation ids are refused (``theorycheck run`` takes several)."""
    from theorycheck.cli import main as cli_main
    from theorycheck.simulations import REGISTRY

    args = sys.argv[1:] if argv is None else argv
    extra = [a for a in args if a in REGISTRY and a != simulation.id]
    if extra:
        prog = f"python -m theorycheck.simulations.{simulation.id.replace('-', '_')}"
        print(f"theorycheck: error: {prog} runs {simulation.id} only; got {', '.join(extra)} "
              "(use `theorycheck run ID ...` for several)", file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    raise SystemExit(cli_main(["run", simulation.id, *args]))


def law_summary(x, base: dict, within: tuple[float, float] | None = None) -> dict:
    """A summary row: mean of ``x`` with its 95% t interval, merged into ``base``. ``within``:
    the range every value lies in (e.g. (0, 1) for a fraction of inputs); the mean lies in it
    too, so the interval is cut to it without losing coverage (a t interval of two fractions
    can reach -1 and 2)."""
    x = np.asarray(x, dtype=float)
    if x.size < 2 or np.all(x == x[0]):
        v = float(x.mean())
        return {**base, "estimate": v, "ci_low": v, "ci_high": v}
    ci = mean_ci(x)
    low, high = ci.low, ci.high
    if within is not None:
        low, high = max(low, within[0]), min(high, within[1])
    return {**base, "estimate": ci.estimate, "ci_low": low, "ci_high": high}


#: The ``trained`` family (docs/theory.md Sec. 2 item 5; Wang et al. 2022 Sec. 5.2, Algorithm 1):
#: SGD (minibatch 10, 3 epochs, lr 10) on the logistic loss of :func:`cluster_task` samples, the
#: top layer frozen, projected onto the lazy ball after every step. Development runs (m = 1000,
#: C0 = 10, 3 networks each, 200 test inputs): test error 0.000 at d = 25, 100, 400 and 784,
#: every row of W at the ball's edge, 0.4 to 2.6 s per network.
TRAIN = {"n_train": 100, "batch": 10, "epochs": 3, "lr": 10.0}


#: Test inputs of a trained network's task where a simulation needs no more: the first is the
#: input it attacks or differentiates at, all give the test error.
TRAINED_TEST_INPUTS = 100


def clusters_task(spec: NetworkSpec, rng, n_test: int = TRAINED_TEST_INPUTS) -> TeacherTask:
    """A fresh :func:`cluster_task` with ``TRAIN['n_train']`` training and ``n_test`` test inputs
    on the sphere of the spec's scaling."""
    return cluster_task(spec.d, TRAIN["n_train"], n_test, rng, radius=input_radius(spec))


def trained_task(
    spec: NetworkSpec, rng, n_test: int = TRAINED_TEST_INPUTS, data: str = DEFAULT_DATA
) -> TeacherTask:
    """One network's task from the source ``data`` (a config's ``data`` field,
    :mod:`theorycheck.data`): ``TRAIN['n_train']`` training and up to ``n_test`` test inputs on
    the sphere of the spec's scaling (||x|| = 1 in the ``wang`` scaling, as Wang et al. 2022
    Sec. 5.2 normalise MNIST). ``clusters`` gives exactly :func:`clusters_task`."""
    if data == DEFAULT_DATA:
        return clusters_task(spec, rng, n_test)
    return load_task(data, spec.d, TRAIN["n_train"], n_test, rng, radius=input_radius(spec))


class TrainedDataMixin:
    """For simulations whose configs train networks on a task (a ``data`` field made by
    :func:`theorycheck.data.data_field`): ``--data`` applies to the configs with trained
    networks (``trained_per_block > 0``)."""

    takes_data = True

    def uses_data(self, config) -> bool:
        return getattr(config, "trained_per_block", 0) > 0

    def check_data(self, config) -> None:
        # A network trains on TRAIN['n_train'] inputs and is tested on at least one more.
        check_data(config.data, config.d, TRAIN["n_train"] + 1)


def train_trained(net: Network, task: TeacherTask, C0: float, rng, path: str) -> TrainResult:
    """The ``trained`` W: ``net``'s hidden layer trained on ``task`` in its lazy ball (``TRAIN``).
    The task's test inputs give the test error and are the inputs to attack: W was not trained
    on them."""
    return train_lazy(
        net, task.X_train, task.y_train, C0, protocol="project", lr=TRAIN["lr"],
        epochs=TRAIN["epochs"], rng=rng, batch=TRAIN["batch"], X_test=task.X_test,
        y_test=task.y_test, path=path,
    )  # fmt: skip


def trained_note(df, data: str = DEFAULT_DATA) -> str:
    """A verdict note: the trained networks' mean test error on their task (they generalise),
    from the ``test_error`` column (NaN for other families); '' for blocks stored without it."""
    err = df["test_error"].dropna() if "test_error" in df else df.iloc[:0, :0]
    if len(err) == 0:
        return ""
    task = "two classes on the sphere" if data == DEFAULT_DATA else describe_data(data)
    return f"trained W: mean test error {err.mean():.3f} over {len(err)} networks on {task}"


def run_data(sim, configs) -> str:
    """The data the configs that use data were run on (one per run), the default if none."""
    sources = sorted({cfg.data for cfg in configs if sim.uses_data(cfg)})
    return sources[0] if len(sources) == 1 else ", ".join(sources) or DEFAULT_DATA


def with_data(rows: list, data: str, where: Callable[[dict], bool] = lambda p: True) -> list:
    """Verdict rows of a run on data other than the default clusters, those whose parameters
    satisfy ``where`` (e.g. the trained family), get a ``task`` parameter (``digits`` or the
    file's name and hash), so verdict tables and the report say what the networks learnt. (Not
    ``data``: a parameter named like a config field must equal it, see
    :func:`theorycheck.sequential.undecided_configs`.)"""
    if data == DEFAULT_DATA:
        return rows
    label = data if data in BUILTIN else describe_data(data)
    out = []
    for row in rows:
        params = row.params()
        if where(params):
            params["task"] = label
            row = replace(row, parameters=json.dumps(params, sort_keys=True, default=float))
        out.append(row)
    return out
