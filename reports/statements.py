"""The claims' statements as typst markup with mathematics, for the report's claim sections.

The claims table (``claims.parquet``) stores each statement as the paper gives it, in plain
text with ASCII mathematics; :data:`STATEMENTS` holds the same statements in typst's math
syntax, one per claim id (papers: Wang, Ullah, Mianjy & Arora (2022); Bubeck, Cherapanamjeri,
Gidel & Tachet des Combes (2021); Dohmatob & Bietti (2022); the exact laws derived in
docs/derivations/). Families whose statements carry computed constants (an activation's
Hermite coefficients) are templates filled with the numbers of the stored statement, so the
typeset statement never disagrees with the stored one. A claim without an entry is shown as
its stored text, escaped (:func:`theorycheck.reports.markup.text`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from theorycheck.numbers import sci
from theorycheck.reports.markup import shipped, text

__all__ = ["STATEMENTS", "TEMPLATES", "statement_markup"]

_BALL = r"$W in B_(2,oo)(W_0, C_0 \/ sqrt(m))$"
_WINDOW = r"$max{d^(2.4), C_3 log(1\/gamma)} <= m <= C_4 exp(d^(0.24))$"

#: claim id -> the statement as typst markup (prose with $...$ mathematics).
STATEMENTS: dict[str, str] = {
    "wang2022.theorem_3_1": (
        r"Let $w_(s,0) ~ cal(N)(0, I_d)$, $a ~ op(\"unif\"){-1, +1}$ and $gamma in (0, 1)$. "
        r"For any $x in bb(S)^(d-1)$, with probability at least $1 - gamma$, simultaneously "
        f"for all {_BALL}, "
        r"$ op(\"sign\") f(x; a, W) != op(\"sign\") f(x + delta; a, W), quad "
        r"delta = eta nabla_x f(x; a, W), $ "
        r"provided $|eta| = C_2 \/ norm(nabla f(x; a, W))^2$ and " + _WINDOW + ". "
        r"#emph[Checked as the perturbation size] "
        r"$norm(delta) = C_2 \/ norm(nabla f) <= 4 C_2 \/ sqrt(d)$, a rate $O(d^(-1\/2))$."
    ),
    "wang2022.theorem_3_1_step": (
        r"Theorem 3.1 (as above) with step size $|eta| = C_2 \/ norm(nabla f(x; a, W))^2$ and "
        + _WINDOW
        + ". "
        r"#emph[Checked as the step] $|eta| <= 16 C_2 \/ d$, a rate $O(d^(-1))$: "
        "“a single step of gradient suffices with a small step size of $O(1\\/d)$”."
    ),
    "wang2022.corollary_3_2": (
        r"Let $w_(s,0) ~ cal(N)(0, I_d)$, $a ~ op(\"unif\")\{-1, +1\}$, "
        r"$R = tilde(O)(1\/sqrt(d))$ and $gamma in (0, 1)$. In the setting of Theorem 3.1, "
        r"for any distribution $cal(D)$ on $bb(S)^(d-1)$, with probability at least "
        f"$1 - 10 gamma$, for all {_BALL}: "
        r"$ L_R (W; cal(D)) >= 0.9. $ "
        r"#emph[Checked with] $R >= C_R \/ sqrt(d)$ #emph[and] $gamma < 0.1$."
    ),
    "wang2022.lemma_4_1": (
        r"(Informal) For any $x$, with probability at least $1 - gamma$, for all "
        + _BALL
        + r": $ |f(x; a, W)| <= 2 sqrt(log(2\/gamma)) + C_0, $ provided "
        r"$m >= Omega(log(2\/gamma))$."
    ),
    "wang2022.lemma_4_2": (
        r"(Informal) For any $x$, with probability at least $1 - gamma$, for all "
        + _BALL
        + r": $ norm(nabla f(x; a, W)) >= sqrt(d) \/ 4, $ provided "
        r"$m >= Omega(log(1\/gamma))$ and $d >= Omega(log(m\/gamma)\/m)$."
    ),
    "wang2022.lemma_4_3": (
        r"Let $S_v := {s : exists W in B_(2,oo)(W_0, C_0\/sqrt(m)), "
        r"bb(1)[chevron.l w_s, x chevron.r > 0] != bb(1)[chevron.l w_(s,0), x chevron.r > 0]}$. "
        r"With probability at least $1 - gamma$, "
        r"$ |S_v| <= C_0 sqrt(m) + sqrt(m log(1\/gamma) \/ 2). $"
    ),
    "wang2022.lemma_4_4": (
        r"For any $x$, with probability at least $1 - gamma$, for all " + _BALL + ": "
        r"$ sup_(r in bb(S)^(d-1), delta in bb(R)^d) "
        r"norm(nabla f(x; a, W) - nabla f(x + delta; a, W)) <= o(sqrt(d)), $ "
        r"provided $norm(delta) <= O(1\/sqrt(d))$ and $d^(2.4) <= m <= O(exp(d^(0.24)))$."
    ),
    "bubeck2021.theorem": (
        r"Let $gamma in (0, 1)$ and $sigma$ non-constant, Lipschitz, with Lipschitz "
        r"derivative. Assume $k >= C_1 log^3(1\/gamma)$, $d >= C_2 log(k\/gamma) "
        r"log(1\/gamma)$, and let $|eta| = C_3 sqrt(log(1\/gamma)) norm(nabla f(x))^(-2)$, "
        r"$op(\"sign\")(eta) = -op(\"sign\")(f(x))$. Then with probability at least "
        r"$1 - gamma$: $ op(\"sign\")(f(x)) != op(\"sign\")(f(x + eta nabla f(x))), quad "
        r"norm(eta nabla f(x)) <= C_4 sqrt(log(1\/gamma)). $"
    ),
    "bubeck2021.output_order": (
        r"For $k$ large, the paper's scale of inputs and weights and $sigma$ “nice”, w.h.p. "
        r"(CLT) $ |f(x)| in Theta(1). $ #emph[Checked as a] $Theta(1)$ #emph[rate in] $d$ "
        r"#emph[and] $k$#emph[; the value is the implied constant.]"
    ),
    "bubeck2021.gradient_norm": (
        r"Bounded gradient: $ norm(nabla f(x)) in Omega(1), $ together with an upper bound: "
        r"the gradient is essentially constant on the macroscopic scale. #emph[Checked as a] "
        r"$Theta(1)$ #emph[rate in] $d$ #emph[and] $k$."
    ),
    "bubeck2021.gradient_stability": (
        r"Gradient locally stable: for $delta$ small, "
        r"$ norm(nabla f(x) - nabla f(x + delta)) in o(norm(nabla f(x))). $ "
        r"#emph[Checked for] $norm(delta) <= C_4 sqrt(log(1\/gamma))$#emph[: the ratio to] "
        r"$norm(nabla f) = Theta(1)$ #emph[tends to 0 in] $d$."
    ),
    "exact.worst_output_relu": (
        r"ReLU at initialisation (Wang et al.’s scaling, $norm(x) = 1$, $a = plus.minus 1$), "
        r"$R = C_0 \/ sqrt(m)$: $ bb(E) sup f = C_0\/2, quad bb(E) inf f = -C_0\/2, quad "
        r"op(\"Var\") sup f = 1\/2 + C_0^2\/(4m), $ $0 <= sup f - inf f <= 2 C_0$ and "
        r"$|f(x; W) - f(x; W_0)| <= C_0$ for every $W$ in the ball."
    ),
    "exact.f1_output": (
        r"At initialisation (ReLU, $a = plus.minus 1$, $norm(x) = 1$), $f(x)$ has exactly the "
        r"law of $ sqrt(N\/m) G, quad N ~ op(\"Bin\")(m, 1\/2) "
        r"#h(0.3em) #text[independent of] #h(0.3em) G ~ cal(N)(0, 1), $ "
        r"so $op(\"Var\") f = 1\/2$ for every $m$."
    ),
    "exact.f1_abs_output_bound": (
        r"At initialisation (ReLU, $a = plus.minus 1$, $norm(x) = 1$), for every $m$ and $d$: "
        r"$ |f(x)| <= Phi^(-1)(1 - gamma\/2) $ with probability at least $1 - gamma$."
    ),
    "exact.f2_grad_norm_sq": (
        r"At initialisation (ReLU, $a = plus.minus 1$, no biases, $norm(x) = 1$), given "
        r"$N ~ op(\"Bin\")(m, 1\/2)$, $nabla f ~ cal(N)(0, (N\/m) I_d)$: "
        r"$ norm(nabla f)^2 ~ N\/m chi^2_d, quad bb(E) norm(nabla f)^2 = d\/2 $ "
        r"(Bubeck et al.’s scaling: $d norm(nabla f)^2$ has this law)."
    ),
    "exact.f6_flippable": (
        r"$ |S_R (x)| ~ op(\"Bin\")(m, 2 Phi(R norm(x)) - 1) $ exactly; with "
        r"$R = C_0\/sqrt(m)$ (Wang et al.’s scaling, $norm(x) = 1$) its mean is "
        r"$approx sqrt(2\/pi) C_0 sqrt(m)$."
    ),
    "exact.f3_s_lin": (
        r"At initialisation (ReLU, $a = plus.minus 1$, no biases), given $f(x) != 0$ "
        r"(probability $1 - 2^(-m)$), $s_\"lin\" = |f(x)| \/ norm(nabla f(x))$ satisfies "
        r"$ (s_\"lin\" \/ norm(x))^2 ~ op(\"Beta\")(1\/2, (d-1)\/2), $ independent of $m$, in "
        r"both scalings; at $norm(delta) = s$ the linear prediction flips with probability "
        r"$I_(s^2\/norm(x)^2)(1\/2, (d-1)\/2)$."
    ),
    "exact.f5_flips": (
        r"For $delta$ independent of $W$ (ReLU, isotropic Gaussian $w_s$) with "
        r"$theta = angle(x, x + delta)$, each neuron's activation differs between $x$ and "
        r"$x + delta$ with probability $theta\/pi$, independently: "
        r"$ \#\"flipped neurons\" ~ op(\"Bin\")(m, theta\/pi). $"
    ),
    "exact.f5_gradient_jump": (
        r"For $delta$ independent of $W$ (ReLU, no biases, $bb(E) a_s a_t = bb(1)[s = t]$), "
        r"$theta = angle(x, x + delta)$: "
        r"$ bb(E) norm(nabla f(x + delta) - nabla f(x))^2 = d theta\/pi quad "
        r"(\"wang\"), quad theta\/pi quad (\"bubeck\") $ for every $m$, $norm(x)$, "
        r"$norm(delta)$."
    ),
    "exact.f5_linearisation_error": (
        r"For $delta$ independent of $W$ (ReLU, no biases), $theta = angle(x, x + delta)$: "
        r"$ bb(E)[(f(x + delta) - f(x) - chevron.l nabla f(x), delta chevron.r)^2] = "
        r"norm(x + delta)^2 (theta - sin theta cos theta) \/ pi $ (Wang et al.’s scaling; "
        r"divided by $d$ in Bubeck et al.’s)."
    ),
    "dohmatob2022.quad_rf_error": (
        r"Random features, $sigma(t) = t^2$, $psi = m\/d$, infinite samples, "
        r"$d -> oo$: $ epsilon_\"RF\" = F_1^2 + F_2^2 + F_\"tr\"^2 \/ (1 + psi) $ "
        r"(only the trace part is learned)."
    ),
    "dohmatob2022.quad_rf_robustness": (
        r"Random features, $sigma(t) = t^2$: "
        r"$ S_\"RF\" = 2 F_\"tr\"^2 psi \/ (1 + psi). $"
    ),
    "dohmatob2022.quad_nt_error": (
        r"Neural tangent, $sigma(t) = t^2$: $ epsilon_\"NT\" = F_1^2 + (1 - psi)_+^2 F_2^2 + "
        r"(1 - psi)_+ F_\"tr\"^2 $ (exact at finite $d$: "
        r"$F_1^2 + 2 norm(P_perp B P_perp)_F^2$, $P_perp$ the projector on "
        r"$op(\"span\")(W)^perp$)."
    ),
    "dohmatob2022.quad_nt_robustness": (
        r"Neural tangent, $sigma(t) = t^2$: "
        r"$ S_\"NT\" = 2 [(1 - (1 - psi)_+^2) F_2^2 + min(psi, 1) F_\"tr\"^2]. $"
    ),
    "dohmatob2022.quad_nn_error": (
        r"Quadratic-activation network at its global optimum (Eckart–Young), GOE-like $B_0$, "
        r"$tau = 0$: $ epsilon_\"NN\" = F_1^2 + F_2^2 r(psi), $ $r$ the semicircle tail "
        r"fraction ($r(0.5) = 0.106$, $r = 0$ for $psi >= 1$)."
    ),
    "dohmatob2022.quad_nn_robustness": (
        r"Quadratic-activation network at its global optimum, GOE-like $B_0$: "
        r"$ S_\"NN\" = 2 F_2^2 (1 - r(psi)). $"
    ),
    "dohmatob2022.tradeoff_poincare": (
        r"Any infinite-sample fit $hat(f)$ (the $L^2$ projection of $f^*$ on a span containing "
        r"the constants), at every finite $d$: $ S(hat(f)) >= op(\"Var\") hat(f) = "
        r"op(\"Var\") f^* - epsilon(hat(f)) $ (Gaussian Poincaré inequality): the lower bound "
        r"on the robustness rises as the test error falls."
    ),
    "dohmatob2022.tradeoff_identity_t2": (
        r"$sigma(t) = t^2$ (RF, NT and the network at its global optimum), every finite $d$: "
        r"$ S(hat(f)) + 2 epsilon(hat(f)) = S(f^*) + F_1^2 $ exactly (the models are even, so "
        r"the linear part is never fitted)."
    ),
    "dohmatob2022.claim_tradeoff": (
        r"“Robustness can only get worse when test error improves, and vice versa.” "
        r"#emph[Checked along] $psi = m\/d$ #emph[(nested widths, one regime): wherever] "
        r"$epsilon(psi') < epsilon(psi)$, $ S(psi') >= S(psi). $"
    ),
    "dohmatob2022.claim_lazy_init": (
        r"“Linearized lazy training regimes can worsen robustness, due to improperly scaled "
        r"random initialization.” Mechanism: averaged over the sign of $a_0$, "
        r"$ S_\"lazy\"(alpha) = S(Pi_T f^*) + alpha^2 S((I - Pi_T) f_0^((1))), $ increasing in "
        r"$alpha$ unless $f_0$ lies in the tangent span $T$, where it is flat."
    ),
    # Wang et al. (2022) Sec. 5.2: adversarial training in the lazy ball.
    "wang2022_training.adversarial_robust_accuracy": (
        r"Adversarial training in the lazy regime (Sec. 5.2, Algorithm 1): SGD on the logistic "
        r"loss of l2 PGD adversarial examples of radius $R$, the weights projected onto "
        r"$B_(2,oo)(W_0, C_0 \/ sqrt(m))$ after every step. “Our theoretical results are not "
        r"limited to any particular learning algorithm”: by Corollary 3.2, with probability at "
        r"least $1 - 10 gamma$, the trained $W$ has "
        r"$ 1 - L_R (W; cal(D)) <= 0.1 $ "
        r"for $R = tilde(O)(1\/sqrt(d))$, in the setting of Theorem 3.1. "
        r"#emph[Checked with] $R >= C_R \/ sqrt(d)$, $C_R = 5$."
    ),
    "wang2022_training.radius_drop": (
        r"Fig. 4 (left), $m = 1000$, $V = 10 \/ sqrt(m)$: “a sharp drop in robust accuracy "
        r"about the $5\/sqrt(d)$ threshold for the perturbation budget $norm(delta)$”; robust "
        r"below it, robust accuracy 0 slightly above. #emph[Described as] the radius where the "
        r"robust accuracy crosses $1\/2$, "
        r'$ R_(1\/2) = C_"drop" \/ sqrt(d), quad C_"drop" = 5, $ '
        r"#emph[a figure-level rate] $Theta(d^(-1\/2))$."
    ),
    "wang2022_training.width_transition": (
        r"Fig. 4 (right), $d = 28^2$, $norm(delta) = 0.2$: “a phase transition in the robust "
        r"test accuracy at value of $V$ around $O(1\/sqrt(m))$”; just outside "
        r"$V = 25 \/ sqrt(m)$ adversarial training is completely robust, inside the robust "
        r"accuracy drops to 0. #emph[Described as] the ball radius where the robust accuracy "
        r"crosses $1\/2$, "
        r"$ V_(1\/2) = C_V \/ sqrt(m), quad C_V = 25, $ "
        r"#emph[a figure-level rate] $Theta(m^(-1\/2))$."
    ),
    # Vardi, Yehudai & Shamir (2022): universal perturbations of KKT points.
    "vardi2022.universal_perturbation": (
        r"Let ${(x_i, y_i)}_(i <= n) subset sqrt(d) SS^(d-1) times {plus.minus 1}$ with each "
        r"class holding at least $c n$ points, and "
        r"$ n <= (d + 1) \/ (3 (max_(i != j) lr(| chevron.l x_i, x_j chevron.r |) + 1)). $ "
        r"Let $theta$ be a KKT point of "
        r"$min_theta 1\/2 norm(theta)^2 \"s.t.\" y_i f_theta (x_i) >= 1$ for all $i$, "
        r"$f_theta$ a depth-2 relu network. Then there is $delta = eta sum_(i=1)^n y_i x_i$, "
        r"$eta > 0$, with "
        r"$ norm(delta) = O(sqrt(d \/ (c^2 n))) quad \"and\" quad "
        r"op(\"sgn\") f_theta (x_i - y_i delta) = -y_i quad \"for all\" i. $ "
        r"#emph[Checked on networks trained to loss] $10^(-30)$ #emph[through the implied "
        r"constant] $norm(delta_min) \/ sqrt(d \/ (c^2 n))$."
    ),
    "vardi2022.robust_network": (
        r"If $lr(| chevron.l x_i, x_j chevron.r |) <= rho d$ for all $i != j$, $0 <= rho < 1$, "
        r"there is a depth-2 relu network $f$ with $y_i f(x_i) > 0$ for all $i$ such that "
        r"changing its prediction at any $x_i$ needs a perturbation of norm "
        r"$Omega(sqrt(d))$. #emph[The construction] $w_j = x_j$, $b_j = -(1 + rho) d \/ 2$, "
        r"$a_j = y_j$ #emph[is certified robust for every] "
        r"$norm(delta) < (1 - rho) sqrt(d) \/ 2$."
    ),
    "vardi2022.kkt_direction": (
        r"Gradient flow on the exponential or logistic loss of a homogeneous relu network, "
        r"once every training point is classified correctly, converges in direction to a KKT "
        r"point of $min_theta 1\/2 norm(theta)^2 \"s.t.\" y_i f_theta (x_i) >= 1$, and "
        r"$cal(L)(theta(t)) -> 0$ (Lyu & Li 2020; Ji & Telgarsky 2020). "
        r"#emph[Shown through the KKT residual at] $cal(L) = 10^(-ell)$."
    ),
    "vardi2022.sphere_inner_products": (
        r"For $x_1, dots, x_n$ i.i.d. uniform on $sqrt(d) SS^(d-1)$ and $n$ polynomial in $d$, "
        r"w.h.p. $ max_(i != j) lr(| chevron.l x_i, x_j chevron.r |) = O(sqrt(d) log d), $ "
        r"so the main theorem applies with $n$ of order $sqrt(d) \/ log d$, where "
        r"$norm(delta) = o(sqrt(d))$."
    ),
    # Schmidt, Santurkar, Tsipras, Talwar & Madry (2018): the Gaussian and Bernoulli models.
    "schmidt2018.gaussian_linear_error": (
        r"In the $(theta^*, sigma)$-Gaussian model, the linear classifier "
        r"$f_w (x) = op(\"sgn\") chevron.l w, x chevron.r$ has standard error "
        r"$Phi(-chevron.l w, theta^* chevron.r \/ (sigma norm(w)_2))$ and "
        r"$ell_oo$-$epsilon$ robust error "
        r"$ Phi(-(chevron.l w, theta^* chevron.r - epsilon norm(w)_1) \/ (sigma norm(w)_2)) $ "
        r"(derived in docs/derivations/gaussian_model.md; one test point's error indicator is "
        r"Bernoulli with this mean)."
    ),
    "schmidt2018.bernoulli_linear_error": (
        r"In the $(theta^*, tau)$-Bernoulli model, for $w = theta^* dot.o s$, "
        r"$s in {-1, +1}^d$ (one sample's $w = y x$, or $w = theta^*$), the $ell_oo$-$epsilon$ "
        r"robust error of $f_w$ is $ P(2K - d <= epsilon d), quad K = K_1 + d_- - K_2, $ "
        r"$K_1 ~ op(\"Bin\")(d_+, 1\/2 + tau)$, $K_2 ~ op(\"Bin\")(d_-, 1\/2 + tau)$ "
        r"independent, $d_plus.minus$ the entries of $s$ equal to $plus.minus 1$ (a tie counts "
        r"as an error)."
    ),
    "schmidt2018.gaussian_one_sample": (
        r"Let $(x, y)$ be drawn from a $(theta^*, sigma)$-Gaussian model with "
        r"$norm(theta^*)_2 = sqrt(d)$ and $sigma <= c d^(1\/4)$. Let $w = y x$. Then w.h.p. "
        r"the linear classifier $f_w$ has classification error at most $1%$. "
        r"#emph[Read as: with probability at least] $1 - gamma$."
    ),
    "schmidt2018.gaussian_robust_one_sample": (
        r"Let $(x_i, y_i)$, $i <= n$, be i.i.d. from a $(theta^*, sigma)$-Gaussian model with "
        r"$norm(theta^*)_2 = sqrt(d)$ and $sigma <= c_1 d^(1\/4)$, and $w = sum_i y_i x_i$. "
        r"Then w.h.p. $f_w$ has $ell_oo$-$epsilon$ robust classification error at most $1%$ "
        r"if $n >= 1$ for $epsilon <= d^(-1\/4) \/ 4$."
    ),
    "schmidt2018.gaussian_robust_upper": (
        r"In the same setting, w.h.p. $f_w$ has $ell_oo$-$epsilon$ robust classification error "
        r"at most $1%$ if $ n >= c_2 epsilon^2 sqrt(d) quad "
        r"\"for\" quad d^(-1\/4) \/ 4 <= epsilon <= 1\/4. $ "
        r"#emph[Checked through the implied constant] $n^* \/ (epsilon^2 sqrt(d))$, "
        r"$n^*$ #emph[the sample count reaching] $1%$ #emph[robust error w.h.p.]"
    ),
    "schmidt2018.gaussian_robust_lower": (
        r"Let $g_n$ be any learning algorithm, $sigma = c_1 d^(1\/4)$, $epsilon >= 0$ and "
        r"$theta ~ cal(N)(0, I_d)$, the samples drawn from the $(theta, sigma)$-Gaussian model. "
        r"Then the expected $ell_oo$-$epsilon$ robust classification error of $f_n$ is at least "
        r"$(1 - 1\/d) \/ 2$ if $ n <= c epsilon^2 sqrt(d) \/ log d. $ "
        r"#emph[Checked for the algorithms the product runs, through the implied constant] "
        r"$n_(1\/2) log d \/ (epsilon^2 sqrt(d))$."
    ),
    "schmidt2018.bernoulli_one_sample": (
        r"Let $(x, y)$ be drawn from a $(theta^*, tau)$-Bernoulli model with "
        r"$tau >= c d^(-1\/4)$. Let $w = y x$. Then w.h.p. the linear classifier $f_w$ has "
        r"classification error at most $1%$."
    ),
    "schmidt2018.bernoulli_sign_one_sample": (
        r"In the $(theta^*, tau)$-Bernoulli model, $f compose op(\"sign\")$ has "
        r"$ell_oo$-$epsilon$ robust classification error at most $1%$ with a single sample "
        r"($f = f_w$, $w = y x$, $tau >= c d^(-1\/4)$ and $epsilon < 1$, so that "
        r"$op(\"sign\")(x + delta) = x$ for $norm(delta)_oo <= epsilon$)."
    ),
    "schmidt2018.bernoulli_linear_lower": (
        r"(Informal) If the data come from the Bernoulli model, a linear model $f$ has expected "
        r"$ell_oo$-$epsilon$ robust classification error at least $1\/2 - g$ if "
        r"$n in tilde(O)(g^2 d)$. #emph[Shown beside measured robust errors, never decided: "
        r"the] $tilde(O)$ #emph[hides constants and logarithms.]"
    ),
}


def _number(pattern: str, stored: str) -> str | None:
    """The number ``pattern`` captures in the stored statement, as the report writes numbers
    (4 significant digits, exact zero '0': tanh's c = 2 mu2^2/nu3^2 was shown '0.000000'),
    as typst math."""
    m = re.search(pattern, stored)
    if not m:
        return None
    shown = sci(float(m.group(1)))
    mantissa, _, exponent = shown.partition("e")
    return f"{mantissa} times 10^({exponent})" if exponent else shown


def _activation(claim: str) -> str:
    return claim.rsplit("_", 1)[-1]


def _grad_energy(claim: str, stored: str) -> str | None:
    m = re.search(r"= ([\d.]+) \+ \(d - 1\) ([\d.]+)", stored)
    if not m:
        return None
    return (
        f"At initialisation ({_activation(claim)}, $a = plus.minus 1$, no biases, "
        r"$norm(x) = 1$): $ bb(E) norm(nabla f)^2 = bb(E)[sigma'(g)^2 g^2] "
        r"+ (d - 1) bb(E)[sigma'(g)^2] "
        f"= {m.group(1)} + (d - 1) dot {m.group(2)} $"
    )


def _init_robustness(claim: str, stored: str) -> str | None:
    c = _number(r"= ([\d.]+) alpha\^2", stored)
    if c is None:
        return None
    return (
        r"At initialisation "
        r"$f_0 = alpha \/ sqrt(m) sum_j a_(0 j) sigma(chevron.l w_j, x chevron.r)$ "
        f"({_activation(claim)}, unit $w_j$, $a_0 = plus.minus 1$, $x ~ cal(N)(0, I_d)$): "
        r"$ bb(E) S(f_0) = alpha^2 bb(E) sigma'(g)^2 = " + c + r" alpha^2 $"
    )


def _rf_error(claim: str, stored: str) -> str | None:
    kappa = _number(r"kappa = mu1\^2/mu\*\^2 = ([\d.]+)", stored)
    if kappa is None:
        return None
    return (
        f"Random features ({_activation(claim)}), $tau = 0$, infinite samples, $d -> oo$: "
        r"$ epsilon_\"RF\" = F_2^2 + F_1^2 m(kappa), quad kappa = mu_1^2 \/ mu_*^2 = "
        + kappa
        + r", $ $m$ the root of $t m^2 + (1 + t(psi - 1)) m - 1 = 0$ at $t = kappa$."
    )


def _rf_robustness(claim: str, stored: str) -> str | None:
    kappa = _number(r"with kappa = ([\d.]+)", stored)
    nu = _number(r"nu\^2/mu\*\^2 = ([\d.]+)", stored)
    if kappa is None or nu is None:
        return None
    return (
        f"Random features ({_activation(claim)}), $tau = 0$: "
        r"$ S_\"RF\" = F_1^2 [(1 - m + kappa m') + nu^2 \/ mu_*^2 (-kappa m')], $ "
        f"$kappa = {kappa}$, $nu^2 \\/ mu_*^2 = {nu}$ (not monotone in $psi$)."
    )


def _nt_error(claim: str, stored: str) -> str | None:
    c = _number(r"c = 2 mu2\^2/nu3\^2 = ([\d.]+)", stored)
    if c is None:
        return None
    return (
        f"Neural tangent ({_activation(claim)}), $tau = 0$, $d -> oo$: "
        r"$ epsilon_\"NT\" = F_2^2 E_2(psi) $ (Marchenko–Pastur, "
        f"$c = 2 mu_2^2 \\/ nu_3^2 = {c}$); the linear part is learned up to a finite-$m$ "
        r"residual of order $F_1^2 \/ m$, not included."
    )


def _nt_robustness(claim: str, stored: str) -> str | None:
    g = _number(r"gamma3 = ([\d.]+)", stored)
    c = _number(r"c = ([\d.]+)", stored)
    if g is None or c is None:
        return None
    return (
        f"Neural tangent ({_activation(claim)}), $tau = 0$: "
        r"$ S_\"NT\" = F_1^2 + F_2^2 (2 Q_2 + gamma_3 N_2), $ "
        f"$gamma_3 = {g}$, $c = {c}$ (Marchenko–Pastur)."
    )


#: claim-id prefix -> template filled with the numbers of the stored statement.
TEMPLATES: dict[str, Callable[[str, str], str | None]] = {
    "exact.grad_energy_": _grad_energy,
    "dohmatob2022.init_robustness_": _init_robustness,
    "dohmatob2022.rf_error_": _rf_error,
    "dohmatob2022.rf_robustness_": _rf_robustness,
    "dohmatob2022.nt_error_": _nt_error,
    "dohmatob2022.nt_robustness_": _nt_robustness,
}


def _plain_quotes(markup: str) -> str:
    # The entries are raw strings written with \" for typst's quotes inside Python's.
    return markup.replace('\\"', '"')


def statement_markup(claim: str, stored: str) -> str:
    """The statement of ``claim`` as typst markup: its entry in :data:`STATEMENTS` or its
    template filled from ``stored``, else the stored text escaped ('' when there is none)."""
    if claim in STATEMENTS:
        return _plain_quotes(STATEMENTS[claim])
    for prefix, template in TEMPLATES.items():
        if claim.startswith(prefix) and stored:
            filled = template(claim, stored)
            if filled is not None:
                return _plain_quotes(filled)
    return text(shipped(stored)) if stored else ""
