"""Reproduce every number quoted in docs/derivations/*.md.

Standalone (numpy + scipy only, does not import theorycheck); runtime about 35 s.
    python3 docs/derivations/numerical_checks.py
Exact parts use binomial sums and quadrature; Monte Carlo parts materialise the
weights W (wang scaling, random unit x) unless stated otherwise.
"""

import numpy as np
from scipy import integrate, optimize, stats

RNG = np.random.default_rng(20240601)
Phi = stats.norm.cdf
phi = stats.norm.pdf


def relu(t):
    return np.maximum(t, 0.0)


def unit(d):
    x = RNG.standard_normal(d)
    return x / np.linalg.norm(x)


def nets(n, m, d, bias=False):
    """n independent wang-scaling networks: W (n,m,d), a (n,m) = +-1, b (n,m)."""
    w = RNG.standard_normal((n, m, d))
    a = RNG.choice([-1.0, 1.0], (n, m))
    b = RNG.standard_normal((n, m)) if bias else np.zeros((n, m))
    return w, a, b


def ball_deviations(shape, d, radius):
    """Deviations uniform in the ball of the given radius, one per row."""
    dev = RNG.standard_normal((*shape, d))
    scale = radius * RNG.uniform(size=shape) ** (1 / d) / np.linalg.norm(dev, axis=-1)
    return dev * scale[..., None]


def mixture_cdf(t, m):
    """CDF of sqrt(N/m) G conditional on N >= 1, N ~ Bin(m, 1/2)."""
    n_act = np.arange(1, m + 1)
    pm = stats.binom.pmf(n_act, m, 0.5)
    vals = Phi(np.asarray(t)[:, None] * np.sqrt(m / n_act)[None, :])
    return (pm[None, :] * vals).sum(1) / (1 - 0.5**m)


def se_var(v):
    c = v - v.mean()
    return np.sqrt(((c**4).mean() - (c**2).mean() ** 2) / len(v))


ACTS = {  # sigma, sigma'
    "softplus": (lambda t: np.logaddexp(0, t), lambda t: 1 / (1 + np.exp(-t))),
    "tanh": (np.tanh, lambda t: 1 - np.tanh(t) ** 2),
    "gelu": (lambda t: t * Phi(t), lambda t: Phi(t) + t * phi(t)),
    "quadratic": (lambda t: t**2, lambda t: 2 * t),
}


def exact_part():
    print("== exact computations (binomial sums, quadrature)")
    for m in [1, 2, 5, 10, 100, 1000]:
        n_act = np.arange(m + 1)
        e_abs = np.sqrt(2 / np.pi) * np.sum(stats.binom.pmf(n_act, m, 0.5) * np.sqrt(n_act / m))
        print(f"F1 E|f| m={m}: {e_abs:.6f}")
    print(f"F1 limit 1/sqrt(pi) = {1 / np.sqrt(np.pi):.6f}")
    for g in [0.1, 0.05, 0.01]:
        print(
            f"F1 gamma={g}: Phi^-1(1-g/2)={stats.norm.ppf(1 - g / 2):.4f}, "
            f"Lemma 4.1 at C0=0: 2 sqrt(log(2/g))={2 * np.sqrt(np.log(2 / g)):.4f}"
        )
    for m, c0, g in [(2000, 3, 0.1), (1000, 10, 0.1), (10**4, 3, 0.1), (10**6, 3, 0.1)]:
        p = 2 * Phi(c0 / np.sqrt(m)) - 1
        bound = c0 * np.sqrt(m) + np.sqrt(m * np.log(1 / g) / 2)
        q = stats.binom.ppf(1 - g, m, p)
        print(
            f"F6 m={m} C0={c0} gamma={g}: p={p:.6f} mean={m * p:.3f} "
            f"(sqrt(2/pi) C0 sqrt m={np.sqrt(2 / np.pi) * c0 * np.sqrt(m):.3f}) "
            f"sd={np.sqrt(m * p * (1 - p)):.3f} q_(1-gamma)={q:.0f} "
            f"[P(<=q)={stats.binom.cdf(q, m, p):.4f}, "
            f"P(<=q-1)={stats.binom.cdf(q - 1, m, p):.4f}] "
            f"bound={bound:.3f} P(|S|>bound)={stats.binom.sf(np.floor(bound), m, p):.2e} "
            f"bound/q={bound / q:.3f}"
        )
    t_c = optimize.brentq(ACTS["gelu"][1], -2, 0, xtol=1e-15)
    print(f"gelu critical point t_c={t_c:.10f}, gelu(t_c)={t_c * Phi(t_c):.10f}")
    for r in [0.1, 0.5, 1.0, 3.0]:
        h1 = [
            integrate.quad(lambda z, s=s: relu(z + s) * phi(z), -12, 12, points=[-s])[0]
            for s in (r, -r)
        ]
        h2 = [
            integrate.quad(lambda z, s=s: relu(z + s) ** 2 * phi(z), -12, 12, points=[-s])[0]
            for s in (r, -r)
        ]
        ex = (h1[0] - h1[1]) / 2
        var_x = (h2[0] + h2[1]) / 2 - ex**2
        e_d2 = integrate.quad(
            lambda z, r=r: (relu(z + r) - relu(z - r)) ** 2 * phi(z), -12, 12, points=[-r, r]
        )[0]
        cf = (1 + r * r) * (2 * Phi(r) - 1) - 2 * r * phi(r) + 4 * r * r * (1 - Phi(r))
        print(
            f"worst-output r={r}: E X={ex:.8f} (r/2), Var X={var_x:.8f} (1/2+r^2/4="
            f"{0.5 + r * r / 4}), E D^2 quad={e_d2:.8f} closed={cf:.8f}"
        )
    gx, gw = np.polynomial.hermite_e.hermegauss(200)
    gw = gw / gw.sum()
    print("relu: E s^2=0.5, E[s'^2 g^2]=0.5, E[s'^2]=0.5 (exact)")
    for name, (s, ds) in ACTS.items():
        print(
            f"{name}: E s^2={np.sum(gw * s(gx) ** 2):.6f} E[s'^2 g^2]="
            f"{np.sum(gw * ds(gx) ** 2 * gx**2):.6f} E[s'^2]={np.sum(gw * ds(gx) ** 2):.6f}"
        )


def f1_f2_part():
    print("== F1 (d=10, materialised W, random unit x, n=1e6 per m)")
    d = 10
    x = unit(d)
    for m in [1, 2, 5, 10]:
        chunks = []
        for _ in range(10):
            w, a, _ = nets(100_000, m, d)
            chunks.append((a * relu(w @ x)).sum(1) / np.sqrt(m))
        f = np.concatenate(chunks)
        ks = stats.kstest(f[f != 0], lambda t, m=m: mixture_cdf(t, m))
        print(
            f"m={m}: Var f={f.var():.4f} E|f|={np.abs(f).mean():.5f} P(f=0)={np.mean(f == 0):.5f}"
            f" ({0.5**m:.5f}) KS p={ks.pvalue:.3f} P(|f|>1.96)={np.mean(np.abs(f) > 1.96):.4f}"
        )
    print("== F2 (d=10, m=5, n=2e5)")
    d, m, n = 10, 5, 200_000
    x = unit(d)
    w, a, _ = nets(n, m, d)
    z = w @ x
    f = (a * relu(z)).sum(1) / np.sqrt(m)
    g = np.einsum("nm,nmd->nd", a * (z > 0), w) / np.sqrt(m)
    print(f"Euler: max |f - <grad f, x>| = {np.abs(f - g @ x).max():.1e}")
    cov = g.T @ g / n
    off = np.abs(cov - np.diag(np.diag(cov))).max()
    print(f"E grad grad^T: mean diag {np.diag(cov).mean():.4f} (0.5), max |offdiag| {off:.4f}")
    n_act = (z > 0).sum(1)
    q = (g**2).sum(1)
    sel = n_act > 0
    ks = stats.kstest(q[sel] * m / n_act[sel], stats.chi2(d).cdf).pvalue
    print(
        f"E||grad||^2={q.mean():.4f} (5); bubeck {q.mean() / d:.4f} (0.5); "
        f"KS m||grad||^2/N vs chi2_d p={ks:.3f}"
    )
    for n0 in [1, 3, 5]:
        gs = g[n_act == n0] * np.sqrt(m / n0)
        print(
            f"  N={n0}: KS coord 1 p={stats.kstest(gs[:, 0], 'norm').pvalue:.3f}, KS <grad,x> "
            f"p={stats.kstest(gs @ x, 'norm').pvalue:.3f}, "
            f"corr(c1,c2)={np.corrcoef(gs[:, 0], gs[:, 1])[0, 1]:.4f}"
        )
    for nx in [0.3, 1.0, 2.0]:
        xb = nx * unit(d)
        w, a, b = nets(n, m, d, bias=True)
        gb = np.einsum("nm,nmd->nd", a * ((w @ xb + b) > 0), w) / np.sqrt(m)
        print(f"  biases, ||x||={nx}: E||grad||^2={(gb**2).sum(1).mean():.4f} (5)")
    gx, gw = np.polynomial.hermite_e.hermegauss(200)
    gw = gw / gw.sum()
    w, a, _ = nets(n, m, d)
    z = w @ x
    for name, (_, ds) in ACTS.items():
        gg = np.einsum("nm,nmd->nd", a * ds(z), w) / np.sqrt(m)
        th = np.sum(gw * ds(gx) ** 2 * gx**2) + (d - 1) * np.sum(gw * ds(gx) ** 2)
        print(f"  {name}: E||grad||^2 MC {(gg**2).sum(1).mean():.4f}, formula {th:.4f}")


def f6_part():
    print("== F6 (materialised, d=10, m=50, C0=3, n=2e5)")
    d, m, n, c0 = 10, 50, 200_000, 3.0
    r_ball = c0 / np.sqrt(m)
    for nx, bias in [(1.0, False), (2.5, False), (1.0, True)]:
        x = nx * unit(d)
        w, _, b = nets(n, m, d, bias)
        z = w @ x + b
        r = r_ball * nx
        s_set = (z > -r) & (z <= r)
        # witnesses: rows w0 +- R x/||x|| give pre-activations z +- R||x||
        flippable = ((z + r > 0) != (z > 0)) | ((z - r > 0) != (z > 0))
        p = 2 * Phi(r / np.sqrt(nx**2 + bias)) - 1
        cnt = s_set.sum(1)
        obs = np.bincount(cnt, minlength=m + 1)
        exp = n * stats.binom.pmf(np.arange(m + 1), m, p)
        keep = exp > 5
        chi = ((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum()
        print(
            f"||x||={nx} bias={bias}: witness set == S_R {np.array_equal(flippable, s_set)}; "
            f"mean {cnt.mean():.4f} vs mp {m * p:.4f}; var {cnt.var():.4f} vs "
            f"{m * p * (1 - p):.4f}; chi2 p={stats.chi2.sf(chi, keep.sum() - 1):.3f}"
        )
    x = unit(d)
    w, _, _ = nets(20_000, m, d)
    z = w @ x
    s_set = (z > -r_ball) & (z <= r_ball)
    flip = ((w + ball_deviations(z.shape, d, r_ball)) @ x > 0) != (z > 0)
    print(
        f"random W in ball: flips outside S_R {int((flip & ~s_set).sum())}, "
        f"inside {int(flip.sum())}"
    )


def best_preactivation(s, a, lo, hi, crits):
    cands = np.stack([lo, hi] + [np.where((lo <= t) & (t <= hi), t, lo) for t in crits])
    idx = (a * s(cands)).argmax(0)
    return np.take_along_axis(cands, idx[None], 0)[0]


def worst_output_part():
    print("== worst-output closed form vs brute force (d=5, m=7, C0=2, real a_s, 200 nets)")
    t_c = optimize.brentq(ACTS["gelu"][1], -2, 0, xtol=1e-15)
    sigmas = {"relu": relu, **{k: v[0] for k, v in ACTS.items()}}
    crits = {"gelu": [t_c], "quadratic": [0.0]}
    d, m, c0 = 5, 7, 2.0
    r_ball = c0 / np.sqrt(m)
    for name, s in sigmas.items():
        gap, attain = -np.inf, 0.0
        for _ in range(200):
            nx = RNG.uniform(0.5, 2)
            x = nx * unit(d)
            w0 = RNG.standard_normal((m, d))
            a = RNG.standard_normal(m)
            z = w0 @ x
            r = r_ball * nx
            ts = best_preactivation(s, a, z - r, z + r, crits.get(name, []))
            sup = (a * s(ts)).sum() / np.sqrt(m)
            w_star = w0 + ((ts - z) / nx**2)[:, None] * x[None, :]
            assert np.linalg.norm(w_star - w0, axis=1).max() <= r_ball + 1e-12
            attain = max(attain, abs((a * s(w_star @ x)).sum() / np.sqrt(m) - sup))
            grid = z[:, None] + r * np.linspace(-1, 1, 4001)[None, :]
            sup_grid = (a[:, None] * s(grid)).max(1).sum() / np.sqrt(m)
            f_rand = (a * s((w0 + ball_deviations((2000, m), d, r_ball)) @ x)).sum(1) / np.sqrt(m)
            gap = max(gap, f_rand.max() - sup, sup_grid - sup)
        print(
            f"{name}: max(random-W f, grid sup) - closed-form sup = {gap:.1e}; "
            f"|f(W*) - sup| <= {attain:.1e}"
        )


def relu_sup_inf(m, r, n, s=1.0, gauss_a=False):
    """sup/inf/f0 from the scalars z_s ~ N(0, s^2) (rotation invariance), chunks of 1e5."""
    sups, infs, f0s = [], [], []
    for _ in range(n // 100_000):
        z = s * RNG.standard_normal((100_000, m))
        a = RNG.standard_normal((100_000, m)) if gauss_a else RNG.choice([-1.0, 1.0], (100_000, m))
        e = np.sign(a)
        sups.append((a * relu(z + e * r)).sum(1) / np.sqrt(m))
        infs.append((a * relu(z - e * r)).sum(1) / np.sqrt(m))
        f0s.append((a * relu(z)).sum(1) / np.sqrt(m))
    return np.concatenate(sups), np.concatenate(infs), np.concatenate(f0s)


def relu_moments_part():
    print("== relu sup/inf moments (n=2e6 each; +- is the SE of the sample variance)")
    for m, c0 in [(1, 3.0), (10, 1.0), (10, 3.0), (100, 3.0), (100, 10.0)]:
        r = c0 / np.sqrt(m)
        sup, inf, f0 = relu_sup_inf(m, r, 2_000_000)
        gap = sup - inf
        var_d = (1 + r * r) * (2 * Phi(r) - 1) - 2 * r * phi(r) + 4 * r * r * (1 - Phi(r)) - r * r
        dev = max((sup - f0).max(), (f0 - inf).max())
        print(
            f"m={m} C0={c0}: E sup {sup.mean():.4f} E inf {inf.mean():.4f} "
            f"Var sup {sup.var():.4f}+-{se_var(sup):.4f} "
            f"Var inf {inf.var():.4f}+-{se_var(inf):.4f}"
            f" (1/2+C0^2/4m={0.5 + c0**2 / (4 * m):.4f}); sup-inf in [{gap.min():.3f},"
            f"{gap.max():.3f}], mean {gap.mean():.4f}, var {gap.var():.5f} ({var_d:.5f}); "
            f"max dev from f(W0) {dev:.3f}"
        )
    m, c0 = 10, 3.0
    r = c0 / np.sqrt(m)
    sup, _, _ = relu_sup_inf(m, r, 2_000_000, s=np.sqrt(2.0))
    print(
        f"biases (Var z = 2), m=10, C0=3: E sup {sup.mean():.4f} (1.5), Var sup "
        f"{sup.var():.4f}+-{se_var(sup):.4f} ({1 + r * r / 4:.4f})"
    )
    sup, _, _ = relu_sup_inf(m, r, 2_000_000, gauss_a=True)
    print(
        f"a ~ N(0,1), m=10, C0=3: E sup {sup.mean():.4f} ({np.sqrt(2 / np.pi) * c0 / 2:.4f}), "
        f"Var sup {sup.var():.4f}+-{se_var(sup):.4f} "
        f"({(1 + r * r) / 2 - r * r / (2 * np.pi):.4f})"
    )
    d, n = 20, 200_000
    x = unit(d)
    w, a, _ = nets(n, m, d)
    step = r * a[..., None] * x
    f_hi = (a * relu((w + step) @ x)).sum(1) / np.sqrt(m)
    f_lo = (a * relu((w - step) @ x)).sum(1) / np.sqrt(m)
    print(
        f"materialised d=20 m=10 C0=3: E f(W*) {f_hi.mean():.4f}, Var {f_hi.var():.4f} (0.7250),"
        f" E f(W_*) {f_lo.mean():.4f}, "
        f"KS f(W*) vs -f(W_*) p={stats.ks_2samp(f_hi, -f_lo).pvalue:.3f}"
    )


if __name__ == "__main__":
    exact_part()
    f1_f2_part()
    f6_part()
    worst_output_part()
    relu_moments_part()
