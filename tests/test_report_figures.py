"""The report's figures as a theorist reads them: labels that fit, log axes with at least two
labelled ticks, proportions on their [0, 1] scale, no panel crowded with series, the width
window drawn around the run's grid points; and the figure cache's fingerprint computed once.

Figures are drawn from small synthetic specs (no simulation is run) shaped like the stored
ones whose pages a review found wrong (issue 15).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from theorycheck.reports.data import FigureInfo


def _info(rows: list[dict], ylabel: str = "estimate", logx: bool = True, logy: bool = False,
          name: str = "f") -> FigureInfo:  # fmt: skip
    return FigureInfo(name, "a figure", "input dimension d", ylabel, logx, logy, "",
                      pd.DataFrame(rows))  # fmt: skip


def _rows(panels, series, xs, value) -> list[dict]:
    out = []
    for p in panels:
        for k, s in enumerate(series):
            for x in xs:
                v = value(p, k, x)
                out.append({"figure": "f", "panel": p, "series": s, "x": float(x),
                            "estimate": v, "ci_low": v, "ci_high": v})  # fmt: skip
    return out


# -- the figure cache's fingerprint ----------------------------------------------------------
def test_fingerprint_is_computed_once_per_job_and_equals_the_direct_hash(monkeypatch):
    from theorycheck.reports.figures import FigureJob

    info = _info(_rows(["a", "b"], ["s1", "s2"], [10, 100], lambda p, k, x: 1.0 + k))
    job = FigureJob(Path("x.svg"), info=info)
    calls = []
    to_csv = pd.DataFrame.to_csv

    def counting(self, *args, **kwargs):
        calls.append(1)
        return to_csv(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", counting)
    first = job.fingerprint()
    assert [job.fingerprint() for _ in range(5)] == [first] * 5
    assert len(calls) == 1  # the rows were serialised once, not six times
    # The memo is the hash itself: a fresh job on the same inputs, and the direct
    # computation, give the same value; other rows give another.
    assert FigureJob(Path("y.svg"), info=info).fingerprint() == first == job._fingerprint_now()
    other = _info(_rows(["a", "b"], ["s1", "s2"], [10, 100], lambda p, k, x: 2.0 + k))
    assert FigureJob(Path("x.svg"), info=other).fingerprint() != first


def test_a_build_asks_the_same_jobs_for_their_fingerprints(tmp_path):
    from test_report import make_store

    from theorycheck.reports.data import load_results
    from theorycheck.reports.pdf import _Document

    doc = _Document(load_results(make_store(tmp_path / "results")))
    doc.compose()
    jobs = doc.jobs(tmp_path / "build")
    assert jobs and doc.jobs(tmp_path / "build") is jobs  # cache look-up, export, prune
    assert [j.path for j in doc.jobs(tmp_path / "other")] != [j.path for j in jobs]
    doc.compose()  # a new composition: new jobs
    assert doc.jobs(tmp_path / "build") is not jobs


def test_figures_from_numpy_columns_are_those_from_the_stored_columns(tmp_path, monkeypatch):
    """A figure is drawn from NumPy copies of its rows' string columns (the fast path); drawn
    from the stored Arrow-backed columns (the reference path), every figure of a build is the
    same SVG, byte for byte. A string column with a missing value is kept as stored."""
    from test_report import make_store

    import theorycheck.reports.figures as figures
    from theorycheck.reports.data import load_results
    from theorycheck.reports.pdf import _Document

    doc = _Document(load_results(make_store(tmp_path / "results")))
    doc.compose()
    jobs = [j for j in doc.jobs(tmp_path / "fast") if j.info is not None]
    assert jobs and all(isinstance(j.info.rows["series"].dtype, pd.StringDtype) for j in jobs)
    assert all(figures.numpy_columns(j.info.rows)["series"].dtype == object for j in jobs)
    gap = pd.DataFrame({"a": ["x", None], "b": ["x", "y"]}).astype("str")
    kept = figures.numpy_columns(gap)
    assert kept["a"].dtype == gap["a"].dtype and kept["b"].dtype == object
    assert kept["b"].tolist() == ["x", "y"]
    fast = [figures.render(j).read_bytes() for j in jobs]
    monkeypatch.setattr(figures, "numpy_columns", lambda rows: rows)
    slow = [figures.render(j).read_bytes() for j in doc.jobs(tmp_path / "slow") if j.info]
    assert fast == slow


def _drawn(info: FigureInfo):
    """``info`` drawn as the report draws it: laid out, colliding tick labels thinned."""
    from theorycheck.reports.figures import _thin_colliding_labels, stored_figure

    fig = stored_figure(info)
    fig.draw_without_rendering()
    _thin_colliding_labels(fig)
    fig.draw_without_rendering()
    return fig


def _log_axes(fig):
    return [(ax, axis) for ax in fig.get_axes() for axis in (ax.xaxis, ax.yaxis)
            if axis.get_scale() == "log"]  # fmt: skip


# y ranges of stored figures whose log axes showed a single label (the stability figures'
# 0.11 to 0.57, the KKT figure's 29 to 141), and narrower and wider ones.
LOG_RANGES = [(0.113, 0.569), (29.0, 141.0), (0.11, 0.19), (0.92, 1.08), (2.2e4, 3.1e5),
              (1e-3, 1e3), (0.16, 0.53), (3.5e-5, 9e-5), (0.0104, 0.0489)]  # fmt: skip


def test_every_log_axis_has_at_least_two_labelled_ticks():
    from theorycheck.reports.figures import _shown_labels
    from theorycheck.reports.style import style_context

    xs = np.geomspace(29.0, 141.0, 9)  # more x values than are ticked at the grid values
    with style_context():
        for lo, hi in LOG_RANGES:
            ends = np.log(xs[[0, -1]])

            def value(p, k, x, lo=lo, hi=hi, ends=ends):
                return float(np.interp(np.log(x), ends, [lo * (1 + k / 50), hi]))

            info = _info(_rows(["a", "b"], ["s1", "s2"], xs, value), logy=True)
            fig = _drawn(info)
            axes = _log_axes(fig)
            assert len(axes) == 4  # x and y of both panels
            for _ax, axis in axes:
                labels = [lb.get_text() for _, lb in _shown_labels(axis)]
                assert len(labels) >= 2, (lo, hi, axis.axis_name, labels)
                if hi / lo < 100:  # and few: not matplotlib's fallback to a tick every 0.005
                    assert len(labels) <= 4, (lo, hi, axis.axis_name, labels)


def test_accuracy_axes_show_the_zero_to_one_scale():
    from theorycheck.reports.style import style_context

    # lazy-adversarial-training's figure: standard training's robust accuracy is 0 at every
    # grid point (the axis ran from -0.05 to 0.05), adversarial training's rises to 1.
    def value(p, k, x):
        return 0.0 if p.startswith("standard") else min(1.0, (x / 40) ** 2 + 0.05 * k)

    panels = ["standard training", "adversarial training"]
    rows = _rows(panels, ["m = 250", "m = 1000"], [10, 20, 40], value)
    with style_context():
        fig = _drawn(_info(rows, ylabel="robust accuracy", logx=False))
        flat, rising = (ax.get_ylim() for ax in fig.get_axes())
        assert flat[0] <= 0 and flat[1] >= 1  # all of [0, 1]: the zeros sit at its foot
        for lo, hi in (flat, rising):
            assert -0.05 <= lo <= 0 and 0.99 <= hi <= 1.05
        # A fraction that stays small is shown over its own range, within [0, 1].
        small = _rows(["a"], ["s"], [1, 2, 4], lambda p, k, x: 0.05 * x)
        lo, hi = _drawn(_info(small, ylabel="undecided fraction")).get_axes()[0].get_ylim()
        assert -0.05 <= lo <= 0.05 and 0.2 <= hi <= 0.3
        # Not a proportion (a difference of accuracies can be negative): matplotlib's range.
        diff = _rows(["a"], ["s"], [1, 2, 4], lambda p, k, x: 0.0)
        lo, hi = _drawn(_info(diff, ylabel="difference")).get_axes()[0].get_ylim()
        assert hi < 0.5


def _flip_rate_figure() -> FigureInfo:
    """init-single-step's flip rate against c: relu holds 14 series (d, m, scaling), gelu 8."""
    relu = [f"d = {d}, m = 1000, {sc}" for sc in ("bubeck", "wang")
            for d in (25, 100, 400, 1600, 6400, 25600)]  # fmt: skip
    relu += ["d = 100, m = 20, bubeck", "d = 400, m = 400, bubeck"]
    gelu = [f"d = {d}, m = 250, bubeck" for d in (25, 50, 100, 200, 400)]
    gelu += [f"d = {d}, m = 250, wang" for d in (25, 100, 400)]
    rows = []
    for panel, names in (("relu", relu), ("gelu", gelu)):
        rows += _rows([panel], names, [1.0, 1.5, 2.0, 4.0],
                      lambda p, k, x: 1 - 0.2 / x**2 - 0.001 * k)  # fmt: skip
    return _info(rows, ylabel="P(sign f(x + delta) != sign f(x))", logx=False, name="flip-c")


def test_no_panel_draws_more_than_eight_series():
    from theorycheck.reports.figures import _MAX_SERIES, uncrowded
    from theorycheck.reports.style import style_context

    info = _flip_rate_figure()
    assert info.rows.groupby("panel")["series"].nunique().max() == 14
    split = uncrowded(info)
    assert list(dict.fromkeys(split.rows["panel"])) == [
        "relu, bubeck", "relu, wang", "gelu, bubeck", "gelu, wang"]  # fmt: skip
    # Every stored value is still there, under its panel plus the moved part of its name.
    key = ["panel", "series", "x"]
    back = split.rows.assign(
        series=[f"{s}, {p.split(', ')[1]}" for p, s in zip(split.rows["panel"],
                                                           split.rows["series"], strict=True)],
        panel=[p.split(", ")[0] for p in split.rows["panel"]],
    )  # fmt: skip
    pd.testing.assert_frame_equal(
        back.sort_values(key).reset_index(drop=True)[info.rows.columns],
        info.rows.sort_values(key).reset_index(drop=True),
    )
    with style_context():
        fig = _drawn(info)
        per_axes = [len(ax.containers) for ax in fig.get_axes()]  # one error bar per series
        assert per_axes == [8, 6, 5, 3] and max(per_axes) <= _MAX_SERIES
    # A figure whose names have no such part is drawn as it is.
    plain = _info(_rows(["a"], [f"series {k}" for k in range(10)], [1, 2], lambda p, k, x: k))
    assert uncrowded(plain) is plain


# y labels the simulations store (they wrapped onto 2-4 lines in a 1.3-inch column).
LONG_LABELS = ["P(sign f(x + delta) != sign f(x))", "(1 - gamma) quantile of |S_R| / sqrt(m)",
               "E||grad f||^2 / d", "robust error (lower estimate)", "implied constant",
               "median t*/s_lin - 1", "E f^2 / E sigma(g)^2"]  # fmt: skip


def test_y_labels_are_one_line_and_touch_no_panel():
    from theorycheck.reports.style import style_context

    with style_context():
        for label in LONG_LABELS:
            for panels in (["main"], ["a", "b", "c", "d"]):
                info = _info(_rows(panels, ["s1", "s2"], [10, 100, 1000],
                                   lambda p, k, x: 0.5 + 0.1 * k), ylabel=label)  # fmt: skip
                fig = _drawn(info)
                renderer = fig.canvas.get_renderer()
                texts = [t for t in fig.texts if t.get_text().replace("\n", " ") == label]
                texts += [t for ax in fig.get_axes() for t in (ax.yaxis.label,) if t.get_text()]
                assert len(texts) == 1, (label, panels)  # one label for every row
                (text,) = texts
                assert "\n" not in text.get_text(), (label, panels)
                box = text.get_window_extent(renderer)
                assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)
                for ax in fig.get_axes():
                    assert not box.overlaps(ax.get_tightbbox(renderer)), (label, panels)


def _window_panel():
    """Wang et al.'s width window as the width-window simulation stores it (lower edge
    max{d^2.4, C3 log(1/gamma)}, upper edge C4 exp(d^0.24), opening at d = 2,972,163) with grid
    points of a quick run (d from 4 to 25600, m from 100 to 10000)."""
    from theorycheck.reports.conditions import ConditionPanel, Curve, GridPoints

    d = np.geomspace(10.0, 1e8, 60)
    low = np.maximum(d**2.4, 3 * np.log(1 / 0.05))
    high = np.exp(d**0.24)
    pts = [GridPoints("wang2022.lemma_4_1", True, np.array([4.0, 4.0, 4.0]),
                      np.array([100.0, 1e3, 1e4])),
           GridPoints("wang2022.theorem_3_1", False, np.array([100.0, 400.0, 25600.0]),
                      np.array([1e3, 1e4, 1e3]))]  # fmt: skip
    return ConditionPanel("Wang et al. (2022), Theorem 3.1: the width window against d",
                          "input dimension d", "width m",
                          [Curve("lower edge", d, low, "-"), Curve("upper edge", d, high, "--")],
                          "widths inside the window", d, low, high,
                          (2972163.0, "window opens at d = 2,972,163"), pts)  # fmt: skip


def test_width_window_axes_frame_the_grid_points_and_mark_the_far_threshold():
    from theorycheck.reports.figures import condition_figure
    from theorycheck.reports.style import style_context

    panel = _window_panel()
    with style_context():
        fig = condition_figure([panel])
        fig.draw_without_rendering()
    (ax,) = fig.get_axes()
    px = np.concatenate([p.x for p in panel.points])
    py = np.concatenate([p.y for p in panel.points])
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    # Every grid point is shown, and the axes reach at most two decades beyond them (they ran
    # to m = 10^16 for the window's opening and squeezed the points into a corner).
    assert x0 <= px.min() and px.max() <= x1 and y0 <= py.min() and py.max() <= y1
    assert np.log10(px.min() / x0) <= 2 and np.log10(x1 / px.max()) <= 2
    assert np.log10(py.min() / y0) <= 2 and np.log10(y1 / py.max()) <= 2
    # The opening, far right of the grid, is not a line stretched into view but an arrow.
    assert not [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [2972163.0] * 2]
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["window opens at d = 2,972,163 →"]


def test_the_legend_names_reference_and_bound_lines_as_the_figure_spec_says():
    """A large-d limit is no 'exact value' and a bound at a chosen free constant is not the
    'paper's bound': the spec's labels reach the legend (and the figure cache's key)."""
    from dataclasses import replace

    from theorycheck.reports.figures import FigureJob, _legend_entries

    rows = _rows(["a"], ["s1"], [10, 100], lambda p, k, x: 1.0)
    for r in rows:
        r["reference"], r["bound"] = 1.1, 2.0
    info = _info(rows)
    labels = [label for label, _ in _legend_entries(info)]
    assert "exact value" in labels and "paper's bound" in labels
    named = replace(info, reference_label="large-d limit", bound_label="C2 = 5/4 (free)")
    labels = [label for label, _ in _legend_entries(named)]
    assert "large-d limit" in labels and "C2 = 5/4 (free)" in labels
    assert "exact value" not in labels and "paper's bound" not in labels
    job = FigureJob(path=Path("f.svg"), info=info)
    assert job.fingerprint() != replace(job, info=named).fingerprint()


def test_a_series_keeps_its_style_in_every_figure_of_a_simulation(monkeypatch):
    """Figures of one simulation show different subsets of its series (W families, solvers):
    each name keeps the style its position in the simulation's order gives it, unless two
    names of one figure would then share a style."""
    from theorycheck.reports.style import series_style, series_styles

    order = ("W0", "random", "robustifying", "trained", "worst-output")
    first = series_styles(["W0", "robustifying", "trained"], order)
    second = series_styles(["robustifying", "trained", "worst-output"], order)
    assert first[1:] == second[:2]  # robustifying, trained: one look in both figures
    assert second[2] == series_style(4)
    assert series_styles(["robustifying", "trained"]) == [series_style(0), series_style(1)]
    # Were the style cycle short enough for positions 0 and 2 of the order to share a style,
    # a figure with both falls back to its own positions.
    import theorycheck.reports.style as style

    cycle = [series_style(0), series_style(1)]
    monkeypatch.setattr(style, "series_style", lambda i: cycle[i % 2])
    assert style.series_styles(["W0", "robustifying"], order) == cycle
