"""``theorycheck bench``: the computation paths side by side (docs/design.md "Performance").

Workload: n networks at initialisation (relu, wang scaling) x n inputs on the unit sphere; for every
(network, input): f, ||grad f||, |S_R| for three radii R = C0 / sqrt(m), and t* of the single-step
attack. Timed in one run, on the same networks and inputs:

* ``reference``: the public estimators with ``path="reference"`` (NumPy, W materialised);
* ``numba``: the same calls with ``path="numba"`` (compiled kernels, W materialised);
* ``numba fused``: :func:`theorycheck.fused.single_step_statistics` (one fused kernel);
* ``exact``: :func:`theorycheck.exact.sample_init_statistics` with ``path="exact"`` for the same
  number of (network, input) pairs. It draws its own (d-free) randomness, so its time is end to
  end and it is compared with the materialised paths' draw + compute time;
* ``torch``: PyTorch CPU autograd for f, grad f and |S_R|, when torch is importable (never a
  dependency); ``torch+walk`` adds t* by the protocol of Wang et al.'s code (walk x <- x - sign(f)
  0.001 u, up to 5000 steps, one forward pass per step; batched over inputs);
* ``draw W``: drawing the networks as :func:`theorycheck.network.sample_network` does (PCG64);
* ``rng floor``: only drawing the m*d normals with NumPy's fastest generator (SFC64).
* ``blas floor``: only the two matrix products every materialised path needs (X W^T and the
  gradient product), W given: no path that computes both can beat it by much.

Times are medians over repeats after one untimed warm-up call (numba compilation or cache load is
not timed); the repeats go round the paths so that a change of the machine's load during the run
touches them all alike. Memory is measured in a separate untimed call: ``peak RSS`` is the
growth of the process's resident-set high-water mark (Linux: reset through /proc/self/clear_refs
after malloc_trim; it sees every allocator: NumPy, numba, BLAS, torch, but reads low when freed
pages are reused), ``traced`` the tracemalloc peak (Python, NumPy and numba's NRT allocations;
torch's allocator is invisible to it).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# The compiled paths are imported where they are used, so that building the CLI parser (which
# registers this module's options) does not load numba.

__all__ = ["WORKLOADS", "Workload", "format_report", "run_bench"]

#: Wang et al.'s walk (official code): step size and maximum number of steps.
WALK_STEP = 0.001
WALK_MAX_STEPS = 5000


@dataclass(frozen=True)
class Workload:
    """n_networks networks x n_inputs inputs at (d, m); radii R = C0 / sqrt(m) for each C0."""

    name: str
    d: int
    m: int
    n_networks: int
    n_inputs: int
    C0: tuple[float, ...] = (1.0, 3.0, 10.0)

    @property
    def spec(self):
        from theorycheck.network import NetworkSpec

        return NetworkSpec(d=self.d, m=self.m)

    @property
    def radii(self) -> tuple[float, ...]:
        return tuple(c / math.sqrt(self.m) for c in self.C0)


WORKLOADS = (
    Workload("d=784, m=1e4", d=784, m=10_000, n_networks=2, n_inputs=32),
    Workload("d=100, m=1e3", d=100, m=1_000, n_networks=8, n_inputs=32),
    # One input per network, as the simulations sample (iid rows): the exact path's comparison,
    # since with many inputs per network the materialised paths share one draw of W among them.
    Workload("d=784, m=1e4, 1 input/network", d=784, m=10_000, n_networks=8, n_inputs=1),
)


@dataclass
class _Case:
    workload: Workload
    nets: list = field(default_factory=list)
    inputs: list = field(default_factory=list)


def _prepare(w: Workload, seed: int) -> _Case:
    from theorycheck.network import sample_inputs, sample_network
    from theorycheck.seeding import generator

    rng = generator(seed, "bench", w.name)
    case = _Case(w)
    for _ in range(w.n_networks):
        case.nets.append(sample_network(w.spec, rng))
        case.inputs.append(sample_inputs(w.spec, w.n_inputs, rng))
    return case


def _materialised(case: _Case, path: str) -> dict:
    from theorycheck.attack import first_sign_flip
    from theorycheck.lazy_ball import flippable_neurons

    out = {"f": [], "grad_norm": [], "t_star": [], "flippable": []}
    for net, X in zip(case.nets, case.inputs, strict=True):
        step = first_sign_flip(net, X, path=path)
        out["f"].append(step.f)
        out["grad_norm"].append(step.grad_norm)
        out["t_star"].append(step.t_star)
        out["flippable"].append(
            np.column_stack([flippable_neurons(net, X, R, path=path) for R in case.workload.radii])
        )
    return {k: np.concatenate(v) for k, v in out.items()}


def _fused(case: _Case) -> dict:
    from theorycheck.fused import single_step_statistics

    out = {"f": [], "grad_norm": [], "t_star": [], "flippable": []}
    for net, X in zip(case.nets, case.inputs, strict=True):
        s = single_step_statistics(net, X, case.workload.radii, path="numba")
        for k in out:
            out[k].append(getattr(s, k))
    return {k: np.concatenate(v) for k, v in out.items()}


def _streaming(case: _Case, seed: int) -> dict:
    from theorycheck.streaming import streaming_statistics

    w = case.workload
    out = {"f": [], "grad_norm": [], "t_star": [], "flippable": []}
    for j, X in enumerate(case.inputs):
        s = streaming_statistics(w.spec, seed, f"bench-{j}", X, w.radii)
        for k in out:
            out[k].append(getattr(s, k))
    return {k: np.concatenate(v) for k, v in out.items()}


def _exact(case: _Case, seed: int) -> dict:
    from theorycheck.exact import sample_init_statistics
    from theorycheck.seeding import generator

    w = case.workload
    s = sample_init_statistics(w.spec, w.n_networks * w.n_inputs, generator(seed, "bench-exact"),
                               radii=w.radii, path="exact")  # fmt: skip
    return {"f": s.f, "grad_norm": s.grad_norm, "t_star": s.t_star, "flippable": s.flippable}


def _draw(case: _Case, seed: int) -> None:
    from theorycheck.network import sample_network
    from theorycheck.seeding import generator

    rng = generator(seed, "bench-draw")
    for _ in range(case.workload.n_networks):
        sample_network(case.workload.spec, rng)


def _rng_floor(case: _Case, seed: int) -> None:
    rng = np.random.Generator(np.random.SFC64(seed))
    w = case.workload
    for _ in range(w.n_networks):
        rng.standard_normal((w.m, w.d))


def _blas_floor(case: _Case) -> None:
    """Only the two products every materialised path needs, W given: the pre-activations
    X W^T and the input gradients (1[XW^T > 0] a) W (Wang et al. 2022, Eq. 1)."""
    for net, X in zip(case.nets, case.inputs, strict=True):
        T = X @ net.W.T
        ((T > 0.0) * net.a) @ net.W


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except (ImportError, OSError):  # absent, or a broken install
        return False
    return True


def _torch(case: _Case, walk: bool) -> dict:
    """PyTorch CPU autograd (float64, the precision of the other paths)."""
    import torch

    w = case.workload
    out = {"f": [], "grad_norm": [], "t_star": [], "flippable": []}
    for net, X in zip(case.nets, case.inputs, strict=True):
        W = torch.from_numpy(net.W)
        a = torch.from_numpy(net.a)
        x = torch.from_numpy(X).requires_grad_(True)
        scale = 1.0 / math.sqrt(w.m)

        def forward(inp, W=W, a=a, scale=scale):
            return torch.relu(inp @ W.T) @ a * scale

        Z = x @ W.T
        f = torch.relu(Z) @ a * scale
        (grad,) = torch.autograd.grad(f.sum(), x)
        gnorm = grad.norm(dim=1)
        with torch.no_grad():
            flips = [((Z > -R) & (Z <= R)).sum(dim=1) for R in w.radii]
            out["f"].append(f.detach().numpy())
            out["grad_norm"].append(gnorm.numpy())
            out["flippable"].append(torch.stack(flips, dim=1).numpy())
            if walk:
                out["t_star"].append(
                    _torch_walk(forward, x.detach(), f.detach(), grad / gnorm[:, None])
                )
    return {k: np.concatenate(v) for k, v in out.items() if v}


def _torch_walk(forward, x, f0, u) -> np.ndarray:
    """Wang et al.'s line search: x <- x - sign(f) step u until the sign changes, <= 5000 steps.

    Returns count * step (count = WALK_MAX_STEPS when it never changes), as their code records.
    """
    import torch

    sgn = torch.sign(f0)
    adv = x.clone()
    count = torch.zeros(len(x), dtype=torch.int64)
    live = torch.ones(len(x), dtype=torch.bool)
    for _ in range(WALK_MAX_STEPS):
        idx = live.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        adv[idx] -= sgn[idx, None] * WALK_STEP * u[idx]
        count[idx] += 1
        changed = torch.sign(forward(adv[idx])) != sgn[idx]
        live[idx[changed]] = False
    return count.numpy() * WALK_STEP


#: Paths computed on the bench's own networks (compared with the reference's t*).
_SAME_NETWORKS = ("numba", "numba fused", "torch+walk")


@dataclass(frozen=True)
class _Path:
    name: str
    run: Callable[[], object]
    note: str


def _paths(case: _Case, seed: int, torch_walk: bool) -> list[_Path]:
    paths = [
        _Path("reference", lambda: _materialised(case, "reference"), "public estimators, NumPy"),
        _Path("numba", lambda: _materialised(case, "numba"), "public estimators, path=numba"),
        _Path("numba fused", lambda: _fused(case), "single_step_statistics, W given"),
        _Path(
            "numba streaming",
            lambda: _streaming(case, seed),
            "W regenerated from counter-based streams, end to end",
        ),
        _Path("exact", lambda: _exact(case, seed), "d-free sampler, end to end"),
        _Path("draw W", lambda: _draw(case, seed), "sample_network (PCG64)"),
        _Path("rng floor", lambda: _rng_floor(case, seed), "m*d normals, SFC64"),
        _Path("blas floor", lambda: _blas_floor(case), "X W^T and the gradient product only"),
    ]
    if _torch_available():
        paths.append(
            _Path("torch", lambda: _torch(case, False), "autograd f, grad, |S_R|; W given")
        )
        if torch_walk:
            paths.append(_Path("torch+walk", lambda: _torch(case, True),
                               "+ t* by Wang et al.'s walk (0.001, <= 5000 steps)"))  # fmt: skip
    return paths


def _peak_memory(fn: Callable[[], object]) -> tuple[float, float]:
    """(peak RSS growth, tracemalloc peak) in bytes of one call; NaN where not measurable."""
    rss = math.nan
    status = "/proc/self/status"
    can_reset = os.path.exists("/proc/self/clear_refs")
    if can_reset:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # reset the high-water mark VmHWM to the current RSS
        except OSError:
            can_reset = False
    if can_reset:
        _malloc_trim()  # hand freed heap pages back, so that reuse shows up as growth
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        base = _status_kib(status, "VmRSS")
        fn()
        rss = (_status_kib(status, "VmHWM") - base) * 1024.0
    tracemalloc.start()
    fn()
    traced = float(tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
    return rss, traced


def _malloc_trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _status_kib(path: str, key: str) -> float:
    with open(path) as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    return math.nan


def run_bench(
    workloads=WORKLOADS,
    repeats: int = 3,
    seed: int = 0,
    torch_walk: bool = True,
    progress: Callable[[str], None] | None = print,
):
    """Time every path on every workload; one row per (workload, path).

    Columns: workload, path, median_s, min_s, peak_rss_mb, traced_mb, note, and the agreement of the
    materialised paths with the reference on the same networks (max |t* - t*_ref|).
    """
    import pandas as pd

    rows = []
    for w in workloads:
        case = _prepare(w, seed)
        paths = _paths(case, seed, torch_walk)
        results = {}
        for p in paths:  # warm-up: numba compilation / cache load, torch init
            if progress:
                progress(f"  {w.name}: {p.name} (warm-up) ...")
            results[p.name] = p.run()
        # Repeats go round the paths, so that a change in the machine's load during the run
        # touches every path alike (the ratios are what the targets are about).
        times = {p.name: [] for p in paths}
        for rep in range(repeats):
            if progress:
                progress(f"  {w.name}: repeat {rep + 1}/{repeats} ...")
            for p in paths:
                t0 = time.perf_counter()
                p.run()
                times[p.name].append(time.perf_counter() - t0)
        ref = results["reference"]
        for p in paths:
            rss, traced = _peak_memory(p.run)
            agree = math.nan
            result = results[p.name]
            if isinstance(result, dict) and "t_star" in result and p.name in _SAME_NETWORKS:
                agree = float(np.max(np.abs(result["t_star"] - ref["t_star"]),
                                     where=np.isfinite(ref["t_star"]), initial=0.0))  # fmt: skip
            rows.append({
                "workload": w.name, "path": p.name, "median_s": statistics.median(times[p.name]),
                "min_s": min(times[p.name]), "peak_rss_mb": rss / 2**20,
                "traced_mb": traced / 2**20, "max_dt_star": agree, "note": p.note,
            })  # fmt: skip
    df = pd.DataFrame(rows)
    df.attrs["n"] = {w.name: f"{w.n_networks} x {w.n_inputs}" for w in workloads}
    return df


#: docs/design.md "Performance" targets: (path, compared with, bound, kind, what is compared).
#: ``faster``:
#: time(other) / time(path) >= bound; ``within``: time(path) / time(other) <= bound.
TARGETS = (
    ("numba", "reference", 5.0, "faster", "compute, W given"),
    ("numba fused", "reference", 5.0, "faster", "compute, W given"),
    ("numba fused", "torch+walk", 3.0, "faster", "compute, W given (torch with its t* walk)"),
    ("numba streaming", "rng floor", 2.0, "within", "end to end vs drawing the m*d normals"),
    ("exact", "reference+draw", 100.0, "faster", "end to end (materialised: draw W + compute)"),
)


def format_report(df) -> str:
    """The table printed by ``theorycheck bench``: times, ratios, memory, targets."""
    lines = [f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
             f"load average {os.getloadavg()[0]:.1f} (1 min); python {platform.python_version()}, "
             f"numpy {np.__version__}, OPENBLAS_NUM_THREADS="
             f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"]  # fmt: skip
    try:
        import numba

        lines[0] += f", numba {numba.__version__} ({numba.get_num_threads()} threads)"
    except ImportError:  # pragma: no cover - numba is a dependency
        pass
    if not _torch_available():
        lines.append("torch not installed: the torch rows are skipped (it is not a dependency)")
    for name, sub in df.groupby("workload", sort=False):
        t = dict(zip(sub["path"], sub["median_s"], strict=True))
        t["reference+draw"] = t["reference"] + t["draw W"]
        show = sub.assign(
            ref_over_path=t["reference"] / sub["median_s"],
            over_rng_floor=sub["median_s"] / t["rng floor"],
            over_blas_floor=sub["median_s"] / t["blas floor"],
        )
        lines.append(f"\n{name}  (n = {df.attrs.get('n', {}).get(name, '?')})")
        columns = [
            "path",
            "median_s",
            "min_s",
            "ref_over_path",
            "over_rng_floor",
            "over_blas_floor",
            "peak_rss_mb",
            "traced_mb",
            "max_dt_star",
            "note",
        ]
        lines.append(show[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        for path, other, bound, kind, what in TARGETS:
            if path not in t or other not in t:
                continue
            if kind == "faster":
                ratio, ok, rel = t[other] / t[path], t[other] / t[path] >= bound, "faster than"
            else:
                ratio, ok, rel = t[path] / t[other], t[path] / t[other] <= bound, "the time of"
            lines.append(
                f"  target: {path} {'>=' if kind == 'faster' else '<='} {bound:g}x "
                f"{rel} {other} ({what}): {ratio:.2f}x {'met' if ok else 'MISSED'}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``theorycheck bench`` and ``python benchmarks/bench.py``."""
    import argparse

    p = argparse.ArgumentParser(prog="theorycheck bench", description=__doc__.split("\n")[0])
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


def add_arguments(p) -> None:
    """The options of ``theorycheck bench`` (shared by the CLI and benchmarks/bench.py)."""
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per path (median)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the workloads' networks (default 0)"
    )
    p.add_argument("--quick", action="store_true", help="the small workload only")
    p.add_argument("--no-walk", action="store_true", help="skip torch's 5000-step walk")
    p.add_argument("--csv", default=None, help="also write the raw table to this CSV file")
    p.add_argument(
        "--results", metavar="DIR", default=None,
        help="instead of the workload: where a stored run's time went, per simulation (summed "
        "block measurement seconds, blocks, evaluation seconds, from its provenance)",
    )  # fmt: skip


def profile_timings(results) -> pd.DataFrame:
    """Per simulation of the run stored in ``results``: configs, blocks, the summed measurement
    seconds of its blocks (each block's provenance; NaN when a block has none), the slowest
    block, and the evaluation seconds; sorted by block seconds, a TOTAL row last."""
    import pandas as pd

    from theorycheck.results import evaluation_name, load

    res = load(results)
    rows = []
    for sim in res.simulations:
        configs = res.configs(sim)
        meta = res.store.read_meta(evaluation_name(sim, "summary", res.profile, res.seed))
        per_block = [c["seconds"] / c["blocks"] for c in configs if c.get("seconds") is not None]
        secs = [c.get("seconds") for c in configs]
        rows.append({
            "simulation": sim, "configs": len(configs),
            "blocks": sum(int(c["blocks"]) for c in configs),
            "block_seconds": float("nan") if None in secs else float(sum(secs)),
            "slowest_config_block": max(per_block, default=float("nan")),
            "evaluate_seconds": meta.get("evaluate_seconds", float("nan")),
        })  # fmt: skip
    df = pd.DataFrame(rows).sort_values("block_seconds", ascending=False, ignore_index=True)
    total = {"simulation": "TOTAL", **{c: df[c].sum() for c in df.columns[1:]}}
    total["slowest_config_block"] = df["slowest_config_block"].max()
    invocation = res.store.read_meta("verdicts").get("invocation") or {}
    df = pd.concat([df, pd.DataFrame([total])], ignore_index=True)
    df.attrs["wall_seconds"] = invocation.get("seconds")
    df.attrs["backend"] = invocation.get("backend")
    return df


def run_from_args(args) -> int:
    from theorycheck.errors import check_int
    from theorycheck.run_arguments import MAX_SEED
    from theorycheck.writes import atomic_write, check_writable_file

    if args.results is not None:
        df = profile_timings(args.results)
        print(f"where the time went: {args.results} ({df.attrs['backend']}, run wall time "
              f"{df.attrs['wall_seconds']} s, report not included)")  # fmt: skip
        print(df.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
        if args.csv is not None:
            check_writable_file(args.csv, "--csv")
            atomic_write(args.csv, lambda tmp: df.to_csv(tmp, index=False))
        return 0
    repeats = check_int("--repeats", args.repeats)
    seed = check_int("--seed", args.seed, minimum=0, maximum=MAX_SEED)
    if args.csv is not None:  # before the benchmark, not after it
        check_writable_file(args.csv, "--csv")
    workloads = WORKLOADS[1:2] if args.quick else WORKLOADS
    print("theorycheck bench: " + "; ".join(
        f"{w.name}: {w.n_networks} networks x {w.n_inputs} inputs" for w in workloads))  # fmt: skip
    df = run_bench(workloads, repeats=repeats, seed=seed, torch_walk=not args.no_walk)
    print(format_report(df))
    if args.csv is not None:
        atomic_write(args.csv, lambda tmp: df.to_csv(tmp, index=False),
                     kept="the table above is the benchmark's result")  # fmt: skip
    return 0
