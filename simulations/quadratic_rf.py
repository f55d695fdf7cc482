"""quadratic-rf: random features on a quadratic target (Dohmatob & Bietti 2022; Ghorbani et al.).

For each replicate block: draw f*(x) = <beta, x> + x^T B x - tr B (GOE-like B0) and a nested
first layer with unit rows; for every psi = m/d of the grid compute

* the exact infinite-sample RF fit at this finite d (kernel route: Mehler's formula, no sampling
  of x; Frobenius projection for sigma = t^2) with its test error eps and robustness S;
* Monte Carlo on fresh inputs of that fit (checks the exact eps and S: z-tests);
* end to end: least squares on n = train_ratio * (m + 1) samples, then eps and S on fresh inputs.

Verdicts: the asymptotic formulas (docs/derivations/quadratic.md) against the exact solver over
>= 3 values of d (the main d and solver-only lines at further d: CONVERGES / DOES NOT CONVERGE /
INCONCLUSIVE, with the gap at each d), Monte Carlo vs solver (z), end-to-end eps vs solver
(one-sided z: the fit lies in the span, so its eps can exceed the solver's minimum but not
fall below it), and Poincare S >= Var fhat = Var f* - eps for every fit (checked statement);
for sigma = t^2 the identity S + 2 eps = S(f*) + F1^2.

Two further kinds of grid line (config fields):

* ``inputs='sphere'``: inputs uniform on the sphere of radius sqrt(d) for training and evaluation.
  relu and t^2 have an exact sphere solver (positively homogeneous sigma); the Monte Carlo and
  the end-to-end fit are judged against it and the exact sphere-minus-Gaussian difference (same
  draws) is reported. gelu has none, and a Gaussian solver is no reference for sphere inputs: its
  least-squares fits on sphere and on Gaussian inputs (same draws, same n) and their difference
  are descriptions in the summary, without a verdict. No formula rows (the formulas are
  Gaussian d -> infinity limits).
* ``sgd_steps > 0``: online SGD on fresh samples (theorycheck.quadratic.online_sgd_linear, a
  stochastic gradient of the population risk each step) as a third end-to-end fit, at a small d
  where it converges in a few seconds; its eps is judged against the solver.
* ``solver_only=True``: the exact solver alone at a further d (widths with 4 <= m and
  m d <= 25600 in the quick profile: twice the main line's largest fit), for the convergence
  verdicts; small psi reaches d = 320, psi = 8 has d = 10, 20, 40. sigma = t^2 (the cheap
  Frobenius route) gets 4 times the budget and stops below m = d(d+1)/2, where the features span
  every quadratic form and the fit is exact whatever the formula (not a point of the limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from theorycheck.activations import get_activation
from theorycheck.bounds import get_bound
from theorycheck.quadratic import (
    GaussianMoments,
    least_squares,
    rf_fit,
    rf_frobenius,
    sample_first_layer,
    sample_target,
)
from theorycheck.quadratic.training import feature_map, linear_model
from theorycheck.simulation import Evaluation, FigureSpec, Simulation
from theorycheck.simulations._common import main
from theorycheck.simulations._quadratic import (
    PSI_GRID,
    SPHERE_FIGURE,
    FitLines,
    convergence_psis,
    formula_convergence,
    formula_lines,
    formula_rows,
    has_sphere_solver,
    identity_statement,
    input_e2e_verdict,
    mc_columns,
    on_inputs,
    poincare_statement,
    pooled_row,
    pooled_z_verdict,
    sgd_verdict,
    solver_summary,
    sphere_gauss_rows,
    values_by_d,
    width,
)


@dataclass(frozen=True)
class RFConfig(FitLines):
    activation: str
    d: int
    psis: tuple[float, ...]
    F1sq: float
    F2sq: float
    Ftrsq: float
    mc_samples: int
    train_ratio: int
    n_blocks: int


#: Blocks (independent draws) of each solver-only line: the convergence verdict needs the gap's
#: log-log slope to within ~0.1 (t-scaled se from 6 draws: factor 2.57/1.96, against 4.30/1.96
#: with 3), and the solver alone is cheap.
CONVERGENCE_BLOCKS = 6

#: Further d of the solver-only convergence lines and the largest m d they solve, per profile
#: (twice the main line's largest fit: 40 x 320 quick, 120 x 960 full).
CONVERGENCE = {"quick": ((10, 20, 80, 160, 320), 25_600), "full": ((30, 60, 240, 480), 230_400)}

#: Grid points of the sphere lines and of the online-SGD line.
SPHERE_PSIS = (0.5, 1.0, 2.0)
SGD_D, SGD_PSIS = 10, (0.5, 1.0, 2.0)


def _claims(activation: str) -> tuple[str, str]:
    if activation == "quadratic":
        return "dohmatob2022.quad_rf_error", "dohmatob2022.quad_rf_robustness"
    return f"dohmatob2022.rf_error_{activation}", f"dohmatob2022.rf_robustness_{activation}"


def _formulas(cfg: RFConfig, psi: float) -> tuple[float, float]:
    eps_id, S_id = _claims(cfg.activation)
    if cfg.activation == "quadratic":
        eps = get_bound(eps_id)(psi=psi, F1sq=cfg.F1sq, F2sq=cfg.F2sq, Ftrsq=cfg.Ftrsq)
        return float(eps), float(get_bound(S_id)(psi=psi, Ftrsq=cfg.Ftrsq))
    eps = get_bound(eps_id)(psi=psi, F1sq=cfg.F1sq, F2sq=cfg.F2sq)
    return float(eps), float(get_bound(S_id)(psi=psi, F1sq=cfg.F1sq))


class QuadraticRF(Simulation):
    id = "quadratic-rf"
    title = (
        "Random features on a quadratic target: test error and robustness (Dohmatob & Bietti 2022)"
    )
    claims = (
        *(c for a in ("relu", "gelu", "tanh", "quadratic") for c in _claims(a)),
        "dohmatob2022.tradeoff_poincare",
        "dohmatob2022.tradeoff_identity_t2",
    )
    limitations = (
        "The formulas are d -> infinity limits; the solver is exact at each simulated d and the "
        "formulas are judged by whether the gap shrinks over >= 3 values of d (the spread over "
        "draws of W, beta, B0 enters as a standard error over blocks). Convergence lines solve "
        "m d <= 25600 (quick), so large psi is judged at small d (psi = 8: d = 10, 20, 40), "
        "where the O(psi / d) correction is still large. End-to-end least squares on "
        "n = train_ratio * p samples "
        "has an excess test error of order eps p / n and an excess robustness of its own (the "
        "small-variance directions of the features carry large gradient energy): its S is shown, "
        "not judged. Monte Carlo intervals are the x-sampling error of the evaluation."
    )

    def _configs(self, profile):
        quick = profile == "quick"
        d, blocks, mc, ratio = (40, 3, 20_000, 50) if quick else (120, 4, 50_000, 100)
        for act in ("relu", "gelu", "tanh", "quadratic"):
            Ftr = 1.0 if act == "quadratic" else 0.0  # the RF formula for general sigma has tau = 0
            yield RFConfig(act, d, PSI_GRID, 1.0, 1.0, Ftr, mc, ratio, blocks)
            extra, max_md = CONVERGENCE[profile]
            for d_c in (*extra, d):  # at the main d, more draws beside the main line's
                if act == "quadratic":  # Frobenius route: cheap, but saturated at m >= d(d+1)/2
                    psis = convergence_psis(d_c, PSI_GRID, max_md=4 * max_md)
                    psis = tuple(p for p in psis if width(p, d_c) < d_c * (d_c + 1) // 2)
                else:
                    psis = convergence_psis(d_c, PSI_GRID, max_md=max_md)
                blocks_c = CONVERGENCE_BLOCKS - (blocks if d_c == d else 0)
                yield RFConfig(act, d_c, psis, 1.0, 1.0, Ftr, 0, 0, blocks_c, solver_only=True)
        # Sphere lines at the quick d (relu and t^2: exact sphere solver; gelu: none).
        for act in ("relu", "quadratic", "gelu"):
            Ftr = 1.0 if act == "quadratic" else 0.0
            yield RFConfig(act, 40, SPHERE_PSIS, 1.0, 1.0, Ftr, mc, ratio, 3, inputs="sphere")
        # Online SGD (a few seconds per point at d = 10; docs/derivations/quadratic.md Sec. 8).
        # Least squares at n = 100 p here: at d = 10 its excess exceeds eps p / n (heavy tails).
        steps = 5000 if quick else 20_000
        yield RFConfig("relu", SGD_D, SGD_PSIS, 1.0, 1.0, 0.0, mc, 100, 3,
                       sgd_steps=steps)  # fmt: skip

    def measure(self, config: RFConfig, rng) -> pd.DataFrame:
        act = get_activation(config.activation)
        moments = GaussianMoments(act)
        law = config.inputs
        exact_law = law if (law == "gaussian" or has_sphere_solver(act.name)) else "gaussian"
        target = sample_target(
            config.d, rng, F1sq=config.F1sq, F2sq=config.F2sq, Ftrsq=config.Ftrsq
        )
        W_max = sample_first_layer(config.d, width(max(config.psis), config.d), rng)
        rows = []
        for psi in config.psis:
            m = width(psi, config.d)
            W = W_max[:m]
            fit, eps_avg, S_avg = _solve(act, target, W, moments, exact_law)
            solved = {
                "psi": psi,
                "m": m,
                "solver_law": exact_law,
                "eps": fit.eps,
                "S": fit.S,
                "eps_avg": eps_avg,
                "S_avg": S_avg,
                "variance": fit.variance,
                "target_variance": target.variance_under(exact_law),
                "target_S": target.robustness,
                "F1sq": target.F1sq,
            }
            if config.solver_only:
                rows.append(solved)
                continue
            feats = feature_map("rf", W, act)
            n_train = config.train_ratio * (m + 1)
            theta, c = least_squares(feats, target, n_train, rng, law=law)
            trained = linear_model("rf", W, act, theta, c)
            row = {
                **solved,
                "n_train": n_train,
                **mc_columns("e2e", trained, target, config.mc_samples, rng, law),
            }
            if exact_law == law:  # Monte Carlo of the exact fit under its own law
                row |= mc_columns("mc", fit.model, target, config.mc_samples, rng, law)
            if law == "sphere" and exact_law == "sphere":  # exact Gaussian twin, same draws
                gauss, g_eps_avg, g_S_avg = _solve(act, target, W, moments, "gaussian")
                row |= {"gauss_eps": gauss.eps, "gauss_S": gauss.S,
                        "gauss_eps_avg": g_eps_avg, "gauss_S_avg": g_S_avg}  # fmt: skip
            elif law == "sphere":  # no sphere solver: least squares on Gaussian inputs, same n
                theta_g, c_g = least_squares(feats, target, n_train, rng)
                gauss = linear_model("rf", W, act, theta_g, c_g)
                row |= mc_columns("e2e_gauss", gauss, target, config.mc_samples, rng)
            if config.sgd_steps:
                row |= config.sgd_columns(
                    feats, lambda th, c, W=W: linear_model("rf", W, act, th, c), target,
                    config.mc_samples, rng,
                )  # fmt: skip
            rows.append(row)
        return pd.DataFrame(rows)

    def evaluate(self, data) -> Evaluation:
        verdicts, summary = [], []
        for cfg, df in data.items():
            eps_id, S_id = _claims(cfg.activation)
            panel, tag = _panel(cfg)
            exact = cfg.inputs == "gaussian" or has_sphere_solver(cfg.activation)
            on = on_inputs(cfg.inputs)
            solver_series = f"{tag}exact solver (d = {cfg.d}, beta-averaged)"
            e2e_series = f"{tag}least squares, n = {cfg.train_ratio} p, then MC"
            for psi, sub in df.groupby("psi", sort=True):
                for q in ("eps", "S"):
                    if exact:
                        summary.append(
                            solver_summary(
                                sub[f"{q}_avg"].to_numpy(),
                                {"figure": q, "panel": panel, "series": solver_series, "x": psi},
                            )
                        )
                if cfg.solver_only:
                    continue
                params = {
                    "activation": cfg.activation,
                    "d": cfg.d,
                    "m": int(sub["m"].iloc[0]),
                    "psi": psi,
                    "blocks": len(sub),
                }
                if cfg.inputs != "gaussian":
                    params["inputs"] = cfg.inputs
                if cfg.sgd_steps:
                    params["sgd_steps"] = cfg.sgd_steps
                for q, claim in (("eps", eps_id), ("S", S_id)):
                    if exact:
                        verdicts.append(
                            pooled_z_verdict(
                                claim,
                                self.id,
                                params,
                                f"{q}: Monte Carlo (fresh x{on}) vs exact solver",
                                sub,
                                "mc",
                                q,
                                q,
                            )
                        )
                    summary.append(pooled_row(sub, "e2e", q, panel, e2e_series, psi))
                    if cfg.sgd_steps:
                        series = f"online SGD, {cfg.sgd_steps} x {cfg.sgd_batch} samples, then MC"
                        summary.append(pooled_row(sub, "sgd", q, panel, series, psi))
                if not exact:  # no sphere solver: descriptions only
                    summary += sphere_gauss_rows(sub, panel, psi, tag)
                note = f"n/p = {cfg.train_ratio}: first-order excess ~ eps p/n = "
                note += f"{1 / cfg.train_ratio:.1%}"
                row = input_e2e_verdict(eps_id, self.id, params, sub, cfg.activation, cfg.inputs,
                                        note)  # fmt: skip
                if row is not None:
                    verdicts.append(row)
                if cfg.sgd_steps:
                    n_params = int(sub["m"].iloc[0]) + 1
                    verdicts.append(sgd_verdict(eps_id, self.id, params, sub, cfg, n_params))
            if cfg.main_grid:
                for q in ("eps", "S"):
                    summary += formula_rows(
                        get_bound(eps_id if q == "eps" else S_id),
                        "asymptotic formula",
                        cfg.psis,
                        {"figure": q, "panel": panel},
                        **_formula_params(cfg, q),
                    )
            if cfg.inputs == "gaussian":
                base = {"activation": cfg.activation, "d": cfg.d}
                verdicts.append(poincare_statement(self.id, base, df))
                if cfg.activation == "quadratic":
                    verdicts.append(identity_statement(self.id, base, df))
        verdicts += self._convergence(data)
        figures = [
            FigureSpec(
                "eps",
                "RF test error eps against psi = m/d",
                "psi = m/d",
                "eps",
                logx=True,
                caption="Exact solver, averaged exactly over the direction of beta: mean over "
                "draws of W and B0 with a 95% t interval; least squares (and online SGD at "
                f"d = {SGD_D}): Monte Carlo on fresh inputs (95% interval); the asymptotic "
                "formula (docs/derivations/quadratic.md) without interval; solver-only lines "
                "at further d show the convergence. 'sphere:' series draw every input uniformly "
                "on the sphere of radius sqrt(d) (gelu: no exact sphere solver, so no solver "
                "series; its least squares on Gaussian inputs is drawn beside it).",
            ),
            FigureSpec(
                "S",
                "RF robustness S = E||grad f||^2 against psi",
                "psi = m/d",
                "S = E||grad f||^2",
                logx=True,
                caption="Same series as above. The end-to-end fits on n = train_ratio p samples "
                "exceed the population robustness, most where S itself is small (small psi).",
            ),
            SPHERE_FIGURE,
        ]
        return Evaluation(verdicts, pd.DataFrame(summary), figures)

    def _convergence(self, data) -> list:
        """One convergence verdict per (activation, psi, quantity) over the Gaussian lines'
        values of d (main and solver-only), where >= 3 values of d are available."""
        verdicts = []
        for act, group in formula_lines(data).items():
            cfg0 = group[0][0]  # the formulas' parameters (F1, F2, Ftr) are shared by the lines
            eps_id, S_id = _claims(act)
            for psi in sorted({p for _, df in group for p in df["psi"]}):
                f_eps, f_S = _formulas(cfg0, psi)
                for q, claim, formula in (("eps", eps_id, f_eps), ("S", S_id, f_S)):
                    by_d = values_by_d(group, psi, f"{q}_avg")
                    if len(by_d) < 3:
                        continue
                    params = {"activation": act, "psi": psi, "d_max": max(by_d)}
                    verdicts.append(
                        formula_convergence(
                            claim, self.id, params,
                            f"{q}: exact solver (averaged over the direction of beta) vs "
                            "asymptotic formula, over d",
                            by_d, formula,
                        )
                    )  # fmt: skip
        return verdicts


def _solve(act, target, W, moments, law: str):
    """(exact fit, beta-averaged eps, beta-averaged S) under the input law ``law``."""
    if act.name == "quadratic":  # even model: the direction of beta does not matter
        fit = rf_frobenius(target, W, law)
        return fit, fit.eps, fit.S
    fit = rf_fit(target, W, moments, law)
    eps_avg, S_avg = fit.details["beta_averaged"]
    return fit, eps_avg, S_avg


def _panel(cfg: RFConfig) -> tuple[str, str]:
    """(panel, series prefix): SGD lines get their own panel (another d); sphere series a tag."""
    if cfg.sgd_steps:
        return f"{cfg.activation}, d = {cfg.d} (online SGD)", ""
    return cfg.activation, ("sphere: " if cfg.inputs == "sphere" else "")


def _formula_params(cfg: RFConfig, q: str) -> dict:
    if cfg.activation == "quadratic":
        return (
            {"F1sq": cfg.F1sq, "F2sq": cfg.F2sq, "Ftrsq": cfg.Ftrsq}
            if q == "eps"
            else {"Ftrsq": cfg.Ftrsq}
        )
    return {"F1sq": cfg.F1sq, "F2sq": cfg.F2sq} if q == "eps" else {"F1sq": cfg.F1sq}


SIMULATION = QuadraticRF()

if __name__ == "__main__":
    main(SIMULATION)
