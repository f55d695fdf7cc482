"""quadratic-nt: neural tangent features on a quadratic target (Dohmatob & Bietti 2022; Ghorbani
et al. 2019).

For each replicate block: draw the target (F1 = 0, GOE-like B0: the NT formula of QUADRATIC.md
treats the linear part as learned) and a nested first layer; for every psi = m/d:

* the exact infinite-sample NT fit at this d: population Gram by Gaussian conditioning and
  Mehler's formula, solved by matrix-free conjugate gradients (sigma = t^2: the Frobenius
  projection eps = 2 ||P_perp B P_perp||_F^2);
* Monte Carlo on fresh inputs of that fit (z-tests of the exact eps and S);
* end to end where p = m d + 1 is small enough: least squares on n = train_ratio p samples.

relu: S of the NT model is infinite in the weak sense (its gradient has jumps); the solver and the
Monte Carlo use the almost-everywhere gradient, reported without a formula.

Two further kinds of grid line (config fields), as in quadratic-rf:

* ``inputs='sphere'`` (d = 20, so that least squares fits every psi): inputs uniform on the sphere
  of radius sqrt(d). relu and t^2 are judged against the exact sphere solver, with the exact
  sphere-minus-Gaussian difference reported; gelu (no sphere solver) against the Gaussian solver,
  with the difference of two least-squares fits (sphere vs Gaussian inputs, same draws and n).
  t^2 only at psi < 1: for m >= d, ||x||^2 lies in the NT span, so fits that agree on the sphere
  differ in their Euclidean gradient and S is not identified (docs/derivations/quadratic.md
  Sec. 10).
* ``sgd_steps > 0``: online SGD on fresh samples as a third end-to-end fit, at d = 10.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bounds import get_bound
from simulations._common import main
from simulations._quadratic import (
    PSI_GRID,
    FitLines,
    formula_rows,
    formula_verdict,
    has_sphere_solver,
    input_e2e_verdict,
    mc_columns,
    on_inputs,
    poincare_statement,
    pooled_row,
    pooled_z_verdict,
    sgd_verdict,
    solver_summary,
    width,
)
from theorycheck.activations import get_activation
from theorycheck.quadratic import (
    GaussianMoments,
    least_squares,
    nt_fit,
    nt_frobenius,
    sample_first_layer,
    sample_target,
)
from theorycheck.quadratic.training import feature_map, linear_model
from theorycheck.simulation import Evaluation, FigureSpec, Simulation


@dataclass(frozen=True)
class NTConfig(FitLines):
    activation: str
    d: int
    psis: tuple[float, ...]
    F1sq: float
    F2sq: float
    mc_samples: int
    train_ratio: int
    max_train_features: int
    n_blocks: int
    formula_tolerance: float
    e2e_tolerance: float


#: Sphere lines (t^2 below psi = 1, where its S is identified) and the online-SGD line.
SPHERE_D, SPHERE_PSIS, SPHERE_PSIS_T2 = 20, (0.5, 1.0, 2.0), (0.25, 0.5, 0.75)
SGD_D, SGD_PSIS = 10, (0.5, 1.0, 2.0)


def _claims(activation: str) -> tuple[str, str | None]:
    if activation == "quadratic":
        return "dohmatob2022.quad_nt_error", "dohmatob2022.quad_nt_robustness"
    S_id = None if activation == "relu" else f"dohmatob2022.nt_robustness_{activation}"
    return f"dohmatob2022.nt_error_{activation}", S_id


def _formula(cfg: NTConfig, q: str):
    """(bound, parameters) of the asymptotic formula for quantity q, or None (relu S)."""
    eps_id, S_id = _claims(cfg.activation)
    if q == "S" and S_id is None:
        return None
    if cfg.activation == "quadratic":
        params = {"F2sq": cfg.F2sq, "Ftrsq": 0.0} | ({"F1sq": cfg.F1sq} if q == "eps" else {})
    else:
        params = {"F2sq": cfg.F2sq} | ({"F1sq": cfg.F1sq} if q == "S" else {})
    return get_bound(eps_id if q == "eps" else S_id), params


class QuadraticNT(Simulation):
    id = "quadratic-nt"
    title = (
        "Neural tangent on a quadratic target: test error and robustness (Dohmatob & Bietti 2022)"
    )
    claims = (
        "dohmatob2022.nt_error_relu",
        "dohmatob2022.nt_error_gelu",
        "dohmatob2022.nt_error_tanh",
        "dohmatob2022.nt_robustness_gelu",
        "dohmatob2022.nt_robustness_tanh",
        "dohmatob2022.quad_nt_error",
        "dohmatob2022.quad_nt_robustness",
        "dohmatob2022.tradeoff_poincare",
    )
    limitations = (
        "The Marchenko-Pastur formulas are d -> infinity limits; at finite d the NT model also "
        "learns part of the higher Hermite degrees (a fraction growing like psi / d), so the "
        "solver-formula gap grows with psi at fixed d. relu's robustness is the almost-everywhere "
        "value (the weak value is infinite) and has no formula. End-to-end least squares is run "
        "only where p = m d + 1 fits the budget, and its eps carries an O(p/n) excess."
    )

    def _configs(self, profile):
        quick = profile == "quick"
        d, blocks, mc, ratio, pmax = (
            (40, 3, 20_000, 40, 900) if quick else (120, 3, 50_000, 50, 1500)
        )
        for act in ("relu", "gelu", "tanh", "quadratic"):
            yield NTConfig(act, d, PSI_GRID, 0.0, 1.0, mc, ratio, pmax, blocks, 0.1, 0.05)
        for act in ("relu", "quadratic", "gelu"):
            psis = SPHERE_PSIS_T2 if act == "quadratic" else SPHERE_PSIS
            yield NTConfig(
                act, SPHERE_D, psis, 0.0, 1.0, mc, ratio, pmax, 3, 0.1, 0.05, inputs="sphere"
            )
        steps = 5000 if quick else 20_000
        # Least squares at n = 100 p here: at d = 10 its excess exceeds eps p / n (heavy tails).
        yield NTConfig("relu", SGD_D, SGD_PSIS, 0.0, 1.0, mc, 100, pmax, 3, 0.1, 0.05,
                       sgd_steps=steps)  # fmt: skip

    def measure(self, config: NTConfig, rng) -> pd.DataFrame:
        act = get_activation(config.activation)
        moments = GaussianMoments(act)
        law = config.inputs
        exact_law = law if (law == "gaussian" or has_sphere_solver(act.name)) else "gaussian"
        target = sample_target(config.d, rng, F1sq=config.F1sq, F2sq=config.F2sq)
        W_max = sample_first_layer(config.d, width(max(config.psis), config.d), rng)
        rows = []
        for psi in config.psis:
            m = width(psi, config.d)
            W = W_max[:m]
            fit = _solve(act, target, W, moments, exact_law)
            row = {
                "psi": psi,
                "m": m,
                "solver_law": exact_law,
                "eps": fit.eps,
                "S": fit.S,
                "variance": fit.variance,
                "target_variance": target.variance_under(exact_law),
                "target_S": target.robustness,
                "cg_iterations": int(fit.details.get("iterations", 0)),
            }
            if exact_law == law:  # Monte Carlo of the exact fit under its own law
                row |= mc_columns("mc", fit.model, target, config.mc_samples, rng, law)
            if law == "sphere" and exact_law == "sphere":  # exact Gaussian twin, same draws
                gauss = _solve(act, target, W, moments, "gaussian")
                row |= {"gauss_eps": gauss.eps, "gauss_S": gauss.S}
            feats = feature_map("nt", W, act)

            def model(theta, c, W=W):
                return linear_model("nt", W, act, theta, c)

            p = m * config.d + 1
            if p <= config.max_train_features:
                n_train = config.train_ratio * p
                theta, c = least_squares(feats, target, n_train, rng, law=law)
                row |= {
                    "n_train": n_train,
                    **mc_columns("e2e", model(theta, c), target, config.mc_samples, rng, law),
                }
                if law == "sphere" and exact_law == "gaussian":  # same n, Gaussian inputs
                    theta_g, c_g = least_squares(feats, target, n_train, rng)
                    gauss = model(theta_g, c_g)
                    row |= mc_columns("e2e_gauss", gauss, target, config.mc_samples, rng)
            if config.sgd_steps:
                row |= config.sgd_columns(feats, model, target, config.mc_samples, rng)
            rows.append(row)
        return pd.DataFrame(rows)

    def evaluate(self, data) -> Evaluation:
        verdicts, summary = [], []
        for cfg, df in data.items():
            panel, tag = _panel(cfg)
            exact = cfg.inputs == "gaussian" or has_sphere_solver(cfg.activation)
            on = on_inputs(cfg.inputs)
            solver_series = f"{tag}exact solver (d = {cfg.d})"
            e2e_series = f"{tag}least squares, n = {cfg.train_ratio} p, then MC"
            eps_id = _claims(cfg.activation)[0]
            for psi, sub in df.groupby("psi", sort=True):
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
                for q in ("eps", "S"):
                    formula = _formula(cfg, q)
                    label = q if (q == "eps" or cfg.activation != "relu") else "S (a.e.)"
                    if exact:
                        summary.append(
                            solver_summary(
                                sub[q].to_numpy(),
                                {"figure": q, "panel": panel, "series": solver_series, "x": psi},
                            )
                        )
                    if formula is None:  # relu S: no formula and no claim to attach rows to
                        continue
                    bound, fparams = formula
                    if cfg.main_grid:
                        verdicts.append(
                            formula_verdict(
                                bound.id,
                                self.id,
                                params,
                                f"{label}: exact solver vs asymptotic formula",
                                sub[q].to_numpy(),
                                float(bound(psi=psi, **fparams)),
                                cfg.formula_tolerance,
                                note=f"finite d = {cfg.d}",
                            )
                        )
                    if exact:
                        verdicts.append(
                            pooled_z_verdict(
                                bound.id,
                                self.id,
                                params,
                                f"{label}: Monte Carlo (fresh x{on}) vs exact solver",
                                sub,
                                "mc",
                                q,
                                q,
                            )
                        )
                if "e2e_eps" in sub and sub["e2e_eps"].notna().all():
                    for q in ("eps", "S"):
                        summary.append(pooled_row(sub, "e2e", q, panel, e2e_series, psi))
                    verdicts.append(
                        input_e2e_verdict(eps_id, self.id, params, sub, cfg.activation,
                                          cfg.inputs, cfg.e2e_tolerance, f"n/p = {cfg.train_ratio}")
                    )  # fmt: skip
                if cfg.sgd_steps:
                    series = f"online SGD, {cfg.sgd_steps} x {cfg.sgd_batch} samples, then MC"
                    for q in ("eps", "S"):
                        summary.append(pooled_row(sub, "sgd", q, panel, series, psi))
                    n_params = int(sub["m"].iloc[0]) * cfg.d + 1
                    verdicts.append(sgd_verdict(eps_id, self.id, params, sub, cfg, n_params))
            if cfg.main_grid:
                for q in ("eps", "S"):
                    formula = _formula(cfg, q)
                    if formula is not None:
                        base = {"figure": q, "panel": panel}
                        summary += formula_rows(
                            formula[0], "asymptotic formula", cfg.psis, base, **formula[1]
                        )
            # relu NT is discontinuous: no Poincare for its a.e. S; the Gaussian Poincare
            # inequality is for Gaussian inputs.
            if cfg.activation != "relu" and cfg.inputs == "gaussian":
                verdicts.append(
                    poincare_statement(self.id, {"activation": cfg.activation, "d": cfg.d}, df)
                )
        figures = [
            FigureSpec(
                "eps",
                "NT test error eps against psi = m/d (F1 = 0, F2 = 1)",
                "psi = m/d",
                "eps",
                logx=True,
                caption="Exact solver: mean over draws with a 95% t "
                "interval; least squares: Monte Carlo on fresh inputs (95% interval), "
                "where p = m d + 1 is small; the Marchenko-Pastur formula (no interval). "
                f"Sphere lines (d = {SPHERE_D}) and the online-SGD line (d = {SGD_D}) have "
                "panels of their own.",
            ),
            FigureSpec(
                "S",
                "NT robustness S = E||grad f||^2 against psi",
                "psi = m/d",
                "S = E||grad f||^2",
                logx=True,
                caption="relu: almost-everywhere value (the weak value is infinite), no formula.",
            ),
        ]
        return Evaluation(verdicts, pd.DataFrame(summary), figures)


def _solve(act, target, W, moments, law: str):
    """The exact NT fit under the input law ``law`` (Frobenius route for t^2)."""
    if act.name == "quadratic":
        return nt_frobenius(target, W, law)
    return nt_fit(target, W, moments, law=law)


def _panel(cfg: NTConfig) -> tuple[str, str]:
    """(panel, series prefix): sphere and SGD lines are at another d, so their own panels."""
    if cfg.sgd_steps:
        return f"{cfg.activation}, d = {cfg.d} (online SGD)", ""
    if cfg.inputs == "sphere":
        return f"{cfg.activation}, d = {cfg.d} (sphere)", "sphere: "
    return cfg.activation, ""


SIMULATION = QuadraticNT()

if __name__ == "__main__":
    main(SIMULATION)
