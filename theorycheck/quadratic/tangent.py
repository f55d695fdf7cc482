"""Exact finite-d neural-tangent fit for any sigma: the population Gram by Gaussian conditioning
(docs/derivations/quadratic.md "NT, general smooth sigma"; docs/derivations/quadratic.md Sec. 5).

Features phi_{j,p}(x) = x_p sigma'(u_j), u_j = <w_j, x>, unit rows w_j, x ~ N(0, I_d). For a pair
of neurons, condition on y = U^T x, U = [w_j, w_k], R = U^T U:

    E[x x^T g(y)] = (I - U R^{-1} U^T) E g + U R^{-1} E[y y^T g] R^{-1} U^T,

so each (d x d) block of the Gram is m0 I + c1 (w_j w_j^T + w_k w_k^T) + c2 (w_j w_k^T + w_k w_j^T)
with scalars that depend on rho_jk only (bivariate moments, :mod:`theorycheck.quadratic.hermite`).
The Gram never has to be stored: a product with an (m, d) coefficient matrix costs O(m^2 d)
(:meth:`TangentGram.matvec`), and conjugate gradients solve the normal equations. The dense
(md x md) Gram (:meth:`TangentGram.dense`) is the readable reference for small m d.

The robustness S(f) = E||grad f||^2 of f = sum_j <a_j, x> sigma'(u_j) is the bilinear form
:meth:`TangentGram.energy` (terms in sigma'sigma', sigma'sigma'' and sigma''sigma''; relu keeps the
a.e. value, sigma'' = 0).

``law='sphere'`` (x uniform on the sphere of radius sqrt(d)), relu and t^2 only: every term is
positively homogeneous, so it is the Gaussian term times the radial factor c_p of its degree p
(:mod:`theorycheck.quadratic.sphere`): the Gram 2a, the mean a, every part of the S-form 2a - 2,
the target covariance a + 1 (linear), a + 2 and a (quadratic), for sigma of degree a.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theorycheck.quadratic.hermite import GaussianMoments, pair_matrix
from theorycheck.quadratic.models import Fit, NeuralTangent
from theorycheck.quadratic.random_features import check_unit_rows, solve_psd
from theorycheck.quadratic.sphere import check_law, sphere_factors
from theorycheck.quadratic.targets import QuadraticTarget

__all__ = ["CGResult", "TangentGram", "conjugate_gradients", "nt_fit"]

#: Largest m d for which :func:`nt_fit` builds the dense Gram when ``method='auto'``.
DENSE_MAX_FEATURES = 2000


@dataclass(frozen=True)
class _Blocks:
    """Scalars of the Gram blocks m0 I + c1 (w_j w_j^T + w_k w_k^T) + c2 (w_j w_k^T + w_k w_j^T)."""

    m0: np.ndarray
    c1: np.ndarray
    c2: np.ndarray

    def scaled(self, factor: np.ndarray) -> _Blocks:
        return _Blocks(self.m0 * factor, self.c1 * factor, self.c2 * factor)


def _conditioned_blocks(moments: GaussianMoments, rho: np.ndarray, k: str) -> _Blocks:
    """Blocks of E[x x^T h(u_j) h(u_k)] for h = sigma' (k = 'd') or sigma'' (k = 'dd').

    With mu = E[h h], A = E[u_j^2 h h] (= E[u_k^2 h h]), Bc = E[u_j u_k h h], the 2 x 2 matrix
    R^{-1} E[y y^T h h] R^{-1} - mu R^{-1} has equal diagonal entries c1 and off-diagonal c2; in the
    eigenbasis (1, 1), (1, -1) of R = [[1, r], [r, 1]] its eigenvalues are
    (A + Bc)/(1 + r)^2 - mu/(1 + r) and (A - Bc)/(1 - r)^2 - mu/(1 - r).
    Diagonal blocks (j = k): E[x x^T h(u)^2] = E h^2 I + (E u^2 h^2 - E h^2) w w^T.
    """
    u, uu = {"d": ("ud", "uud"), "dd": ("udd", "uudd")}[k]
    mu = pair_matrix(moments, k, k, rho)
    A = pair_matrix(moments, uu, k, rho)
    Bc = pair_matrix(moments, u, u, rho)
    m = rho.shape[0]
    off = ~np.eye(m, dtype=bool)
    r = np.where(off, rho, 0.0)
    lam_plus = (A + Bc) / (1 + r) ** 2 - mu / (1 + r)
    lam_minus = (A - Bc) / (1 - r) ** 2 - mu / (1 - r)
    c1 = np.where(off, 0.5 * (lam_plus + lam_minus), 0.0)
    c2 = np.where(off, 0.5 * (lam_plus - lam_minus), 0.0)
    e0 = moments.univariate(k, k)
    e2 = moments.univariate(uu, k)
    # On the diagonal the formula below adds c1 twice: c1_jj = (e2 - e0)/2 gives (e2 - e0) w w^T.
    np.fill_diagonal(c1, 0.5 * (e2 - e0))
    np.fill_diagonal(mu, e0)
    return _Blocks(mu, c1, c2)


def _block_product(blocks: _Blocks, W: np.ndarray, A: np.ndarray) -> np.ndarray:
    """sum_k Block_jk a_k for every j, A of shape (..., m, d): O(m^2 d)."""
    P = A @ W.T  # P[..., k, j] = <a_k, w_j>
    P = np.swapaxes(P, -1, -2)  # P[..., j, k] = <w_j, a_k>
    s = np.diagonal(P, axis1=-2, axis2=-1)  # s_k = <w_k, a_k>
    out = blocks.m0 @ A
    # c1 (w_j <w_j, a_k> + w_k <w_k, a_k>) + c2 (w_j <w_k, a_k> + w_k <w_j, a_k>)
    coef_j = np.sum(blocks.c1 * P, axis=-1) + (blocks.c2 @ s[..., None])[..., 0]
    out = out + coef_j[..., None] * W
    out = out + (blocks.c1 * s[..., None, :] + blocks.c2 * P) @ W
    return out


@dataclass(frozen=True)
class TangentGram:
    """The centred population Gram of the NT features and the robustness form (module docstring).

    Attributes
    ----------
    W : (m, d) unit rows.
    moments : the activation's Gaussian moments.
    gram : blocks of E[phi phi^T] (sigma' sigma').
    curvature : blocks of rho_jk E[x x^T sigma''(u_j) sigma''(u_k)] (the sigma''sigma'' part of S).
    mixed : (r1, r2) with E[x sigma'(u_j) sigma''(u_k)] = r1_jk w_j + r2_jk w_k.
    K1 : E[sigma'(u_j) sigma'(u_k)].
    mean_scale : E[u sigma'(u)], so E phi_{j,p} = mean_scale w_jp.
    law : the input law (every attribute above is for that law).
    """

    W: np.ndarray
    moments: GaussianMoments
    gram: _Blocks
    curvature: _Blocks
    mixed: tuple[np.ndarray, np.ndarray]
    K1: np.ndarray
    mean_scale: float
    law: str = "gaussian"

    @classmethod
    def build(cls, W: np.ndarray, moments: GaussianMoments, law: str = "gaussian") -> TangentGram:
        check_unit_rows(W)
        check_law(law)
        if law == "sphere":
            # Homogeneous terms: rescale the Gaussian ones by the radial factor of their degree.
            a, c = sphere_factors(W.shape[1], moments.activation)
            g = cls.build(W, moments)
            e = c(2 * a - 2)
            r1, r2 = g.mixed
            return cls(
                W, moments, g.gram.scaled(c(2 * a)), g.curvature.scaled(e), (e * r1, e * r2),
                e * g.K1, c(a) * g.mean_scale, law,
            )  # fmt: skip
        rho = W @ W.T
        gram = _conditioned_blocks(moments, rho, "d")
        K1 = gram.m0.copy()
        smooth = not moments.closed_form
        m = rho.shape[0]
        if smooth:
            curvature = _conditioned_blocks(moments, rho, "dd").scaled(rho)
            r1, r2 = _pair_solve(
                rho, pair_matrix(moments, "ud", "dd", rho), pair_matrix(moments, "d", "udd", rho)
            )
            np.fill_diagonal(r1, moments.univariate("ud", "dd"))
            np.fill_diagonal(r2, 0.0)
        else:  # relu: sigma'' = 0 a.e.
            zero = np.zeros((m, m))
            curvature, r1, r2 = _Blocks(zero, zero, zero), zero, zero
        return cls(W, moments, gram, curvature, (r1, r2), K1, moments.univariate("ud"))

    @property
    def shape(self) -> tuple[int, int]:
        return self.W.shape

    def mean(self) -> np.ndarray:
        """E phi as an (m, d) array: E[x sigma'(u_j)] = E[u sigma'(u)] w_j."""
        return self.mean_scale * self.W

    def matvec(self, A: np.ndarray) -> np.ndarray:
        """Centred Gram times A, (..., m, d) -> (..., m, d): Cov(phi) A in O(m^2 d)."""
        mu = self.mean()
        inner = np.sum(A * mu, axis=(-2, -1))
        return _block_product(self.gram, self.W, A) - inner[..., None, None] * mu

    def dense(self) -> np.ndarray:
        """The centred Gram as an (m d, m d) matrix (reference path, small m d only)."""
        return _dense_blocks(self.gram, self.W) - np.outer(self.mean().ravel(), self.mean().ravel())

    def energy(self, A: np.ndarray, B: np.ndarray | None = None) -> float:
        """S-form: E<grad f_A, grad f_B> for f_A = sum_j <a_j, x> sigma'(u_j) (B = A: S(f_A))."""
        B = A if B is None else B
        t1 = float(np.sum(self.K1 * (A @ B.T)))
        t3 = float(np.sum(A * _block_product(self.curvature, self.W, B)))
        return t1 + self._cross(A, B) + self._cross(B, A) + t3

    def _cross(self, A: np.ndarray, B: np.ndarray) -> float:
        # sum_jk <a_j, w_k> E[<b_k, x> sigma'(u_j) sigma''(u_k)], E[x ..] = r1 w_j + r2 w_k.
        r1, r2 = self.mixed
        PA = self.W @ A.T  # PA[k, j] = <w_k, a_j>
        PB = self.W @ B.T  # PB[j, k] = <w_j, b_k>
        sB = np.diagonal(PB)
        return float(np.sum(PA.T * (r1 * PB + r2 * sB[None, :])))

    def energy_with_features(self, c: np.ndarray, A: np.ndarray) -> float:
        """E<grad h, grad f_A> for the RF function h = sum_j c_j sigma(u_j) (lazy residuals)."""
        r1, r2 = self.mixed
        P = self.W @ A.T  # P[j, k] = <w_j, a_k>
        s = np.diagonal(P)
        rho = self.W @ self.W.T
        inner = self.K1 * P + rho * (r1 * P + r2 * s[None, :])
        return float(c @ inner.sum(axis=1))

    def target_covariance(self, target: QuadraticTarget) -> np.ndarray:
        """Cov(phi, f*) as (m, d): E[x sigma'(u_j) f*(x)] (docs/derivations/quadratic.md Sec. 5).

        Linear part: E[x x^T sigma'(u)] beta = E sigma' beta + (E u^2 sigma' - E sigma') <w,beta> w.
        Quadratic part: (E[u^3 sigma'] - E[u sigma']) (w^T B w) w + 2 E[u sigma'] (I - w w^T) B w.
        Sphere (degree-a sigma): c_{a+1} (linear) + c_{a+2} E_gauss[x sigma'(u) x^T B x]
        - c_a tr B E_gauss[x sigma'(u)], with E_gauss[x sigma'(u)] = E[u sigma'(u)] w.
        """
        M, W = self.moments, self.W
        e_d, e_ud, e_uud = M.univariate("d"), M.univariate("ud"), M.univariate("uud")
        e_u3d = M.activation.expect(lambda t: t**3 * M.function("d")(t))
        wb = W @ target.beta
        BW = W @ target.B  # rows B w_j
        wBw = np.sum(BW * W, axis=1)
        lin = e_d * target.beta[None, :] + ((e_uud - e_d) * wb)[:, None] * W
        quad = ((e_u3d - e_ud) * wBw)[:, None] * W + 2 * e_ud * (BW - wBw[:, None] * W)
        if self.law == "gaussian":
            return lin + quad
        a, c = sphere_factors(W.shape[1], M.activation)
        trB_mean = float(np.trace(target.B)) * e_ud * W  # tr B E_gauss[x sigma'(u)]
        return c(a + 1) * lin + c(a + 2) * (quad + trB_mean) - c(a) * trB_mean

    def feature_covariance(self, c: np.ndarray) -> np.ndarray:
        """Cov(phi, h) as (m, d) for h = sum_j c_j sigma(u_j) (the lazy initial function).

        E[x sigma'(u_k) sigma(u_j)] = q1 w_k + q2 w_j with (q1, q2) = R^{-1} (E[u_k sigma'(u_k)
        sigma(u_j)], E[u_j sigma'(u_k) sigma(u_j)]); on the diagonal E[u sigma' sigma] w.
        Sphere (degree-a sigma): the raw moment has degree 2a, E sigma degree a.
        """
        M, W = self.moments, self.W
        rho = W @ W.T
        q1, q2 = _pair_solve(rho, pair_matrix(M, "ud", "s", rho), pair_matrix(M, "d", "us", rho))
        np.fill_diagonal(q1, M.univariate("ud", "s"))
        np.fill_diagonal(q2, 0.0)
        raw = (q1 @ c)[:, None] * W + (q2 * c[None, :]) @ W
        mean_sigma = M.univariate("s")
        if self.law == "sphere":
            a, cp = sphere_factors(W.shape[1], M.activation)
            raw, mean_sigma = cp(2 * a) * raw, cp(a) * mean_sigma
        return raw - self.mean() * (mean_sigma * float(c.sum()))


def _pair_solve(rho: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R^{-1} (n1, n2) entrywise with R = [[1, rho], [rho, 1]] (diagonal entries left as 0)."""
    off = ~np.eye(rho.shape[0], dtype=bool)
    r = np.where(off, rho, 0.0)
    det = 1.0 - r * r
    return np.where(off, (n1 - r * n2) / det, 0.0), np.where(off, (n2 - r * n1) / det, 0.0)


def _dense_blocks(blocks: _Blocks, W: np.ndarray) -> np.ndarray:
    m, d = W.shape
    eye = np.eye(d)
    G = np.einsum("jk,pq->jpkq", blocks.m0, eye)
    G += np.einsum("jk,jp,jq->jpkq", blocks.c1, W, W)
    G += np.einsum("jk,kp,kq->jpkq", blocks.c1, W, W)
    G += np.einsum("jk,jp,kq->jpkq", blocks.c2, W, W)
    G += np.einsum("jk,kp,jq->jpkq", blocks.c2, W, W)
    return G.reshape(m * d, m * d)


@dataclass(frozen=True)
class CGResult:
    """Solution of a symmetric positive semi-definite system by conjugate gradients."""

    x: np.ndarray
    iterations: int
    relative_residual: float
    converged: bool


def conjugate_gradients(
    matvec, b: np.ndarray, *, tol: float = 1e-10, max_iter: int = 20000, precondition=None
) -> CGResult:
    """Matrix-free (preconditioned) conjugate gradients for G x = b, G symmetric PSD.

    Each iterate minimises the G-norm error over its Krylov space, which for a Gram matrix is the
    L2 error of the fitted function: the test error of the iterate decreases monotonically to the
    projection's. Stops when ||b - G x|| <= tol ||b||. Consistent singular systems (t^2 features)
    converge to a solution (the projection is unique).
    """
    prec = (lambda r: r) if precondition is None else precondition
    x = np.zeros_like(b)
    r = b.copy()
    z = prec(r)
    p = z.copy()
    rz = float(np.sum(r * z))
    b_norm = math.sqrt(float(np.sum(b * b))) or 1.0
    res = math.sqrt(float(np.sum(r * r))) / b_norm
    it = 0
    while res > tol and it < max_iter:
        Gp = matvec(p)
        pGp = float(np.sum(p * Gp))
        if pGp <= 0:
            break
        step = rz / pGp
        x += step * p
        r -= step * Gp
        z = prec(r)
        rz_new = float(np.sum(r * z))
        p = z + (rz_new / rz) * p
        rz = rz_new
        it += 1
        res = math.sqrt(float(np.sum(r * r))) / b_norm
    return CGResult(x, it, res, res <= tol)


def nt_fit(
    target: QuadraticTarget,
    W: np.ndarray,
    moments: GaussianMoments,
    *,
    method: str = "auto",
    tol: float = 1e-10,
    law: str = "gaussian",
) -> Fit:
    """The exact infinite-sample NT fit (module docstring).

    ``method``: ``dense`` (Cholesky / pseudo-inverse of the (md x md) Gram), ``cg`` (matrix-free
    conjugate gradients), ``auto`` (dense up to :data:`DENSE_MAX_FEATURES` features).
    ``law='sphere'``: inputs uniform on the sphere of radius sqrt(d) (relu and t^2 only).
    """
    gram = TangentGram.build(W, moments, law)
    b = gram.target_covariance(target)
    A, details = solve_tangent(gram, b, method=method, tol=tol)
    explained = float(np.sum(A * b))
    c = -gram.mean_scale * float(np.sum(A * W))  # zero-mean fit: E f = E f* = 0
    model = NeuralTangent(W, A, moments.activation, c)
    variance = float(np.sum(A * gram.matvec(A)))
    details["explained"] = explained
    eps = target.variance_under(law) - explained
    return Fit(model, eps, gram.energy(A), variance, details)


def solve_tangent(
    gram: TangentGram, b: np.ndarray, *, method: str = "auto", tol: float = 1e-10
) -> tuple[np.ndarray, dict]:
    """Solve Cov(phi) A = b for (m, d) (or (k, m, d)) right sides b; returns A and diagnostics."""
    m, d = gram.shape
    if method == "auto":
        method = "dense" if m * d <= DENSE_MAX_FEATURES else "cg"
    if method == "dense":
        flat = b.reshape(-1, m * d).T
        A = solve_psd(gram.dense(), flat).T.reshape(b.shape)
        return A, {"method": "dense", "iterations": 0, "relative_residual": 0.0}
    if method != "cg":
        raise ValueError(f"method must be auto, dense or cg, got {method!r}")
    results = [conjugate_gradients(gram.matvec, rhs, tol=tol) for rhs in b.reshape(-1, m, d)]
    for res in results:
        if not res.converged:
            raise FloatingPointError(
                f"NT conjugate gradients stopped at relative residual {res.relative_residual:.2e}"
                f" after {res.iterations} iterations (m={m}, d={d})"
            )
    A = np.stack([res.x for res in results]).reshape(b.shape)
    return A, {
        "method": "cg",
        "iterations": max(r.iterations for r in results),
        "relative_residual": max(r.relative_residual for r in results),
    }
