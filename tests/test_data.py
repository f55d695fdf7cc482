"""The trained family's data (theorycheck.data): clusters, scikit-learn's digits 0 vs 1 and a
user's .npz, resampled to d = s^2 and put on the unit sphere (Wang et al. 2022 Sec. 5); bad files
refused in one line (exit 2); ``--data`` in the config id, so blocks of other data or of a changed
file are never reused."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from theorycheck import data, simulations
from theorycheck.cli import main
from theorycheck.data import (
    check_data,
    grid_shape,
    load_examples,
    load_task,
    resample,
    resolve_data,
)
from theorycheck.errors import UserInputError
from theorycheck.simulation import config_id
from theorycheck.simulations.lazy_gradient import LazyGradientConfig
from theorycheck.simulations.lazy_single_step import LazySingleStep, SingleStepConfig
from theorycheck.store import META_KEY

# -- resampling --------------------------------------------------------------------------------


def test_area_downsampling_is_the_block_mean():
    """28 -> 14 and 28 -> 7 average 2 x 2 and 4 x 4 blocks: checked against reshape-and-mean."""
    x = np.random.default_rng(1).random((3, 28, 28))
    for s in (14, 7):
        k = 28 // s
        blocks = x.reshape(3, s, k, s, k).mean(axis=(2, 4))
        np.testing.assert_allclose(resample(x, (s, s)), blocks, rtol=0, atol=1e-12)


def test_resampling_keeps_constants_and_the_identity():
    x = np.random.default_rng(2).random((2, 8, 8))
    np.testing.assert_allclose(resample(x, (8, 8)), x, rtol=0, atol=1e-12)
    for shape in ((5, 5), (28, 28), (2, 5), (1, 1), (13, 3)):
        np.testing.assert_allclose(resample(np.full((1, 8, 8), 3.0), shape), 3.0, atol=1e-12)


def test_bilinear_upsampling_at_half_pixel_centres():
    """2 -> 4 pixels: output centres at input coordinates -0.25, 0.25, 0.75, 1.25 (clamped)."""
    x = np.array([[[0.0, 4.0], [0.0, 4.0]]])
    np.testing.assert_allclose(resample(x, (2, 4))[0, 0], [0.0, 1.0, 3.0, 4.0], atol=1e-12)


def test_grid_shape():
    assert [grid_shape(d) for d in (25, 784, 10, 7, 1)] == [(5, 5), (28, 28), (2, 5), (1, 7),
                                                            (1, 1)]  # fmt: skip


# -- digits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [25, 64])
def test_digits_zero_vs_one_on_the_unit_sphere(d):
    rng = np.random.default_rng(3)
    task = load_task("digits", d, 100, 100, rng)
    for X, y in ((task.X_train, task.y_train), (task.X_test, task.y_test)):
        assert X.shape == (100, d)
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-12)
        assert set(np.unique(y)) == {-1.0, 1.0}
    ex = load_examples("digits")
    assert ex.x.shape == (360, 8, 8) and (ex.y == 1).sum() == 182  # scikit-learn's 178 zeros
    # A split without replacement: no example is both a training and a test input.
    both = np.vstack([task.X_train, task.X_test])
    assert len(np.unique(both.round(12), axis=0)) == 200


def test_digits_at_64_are_the_raw_images_normalised():
    """8 x 8 is the digits' own size: the identity resampling, then x / ||x||."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    raw = bunch.data[bunch.target <= 1]
    ex = load_examples("digits")
    np.testing.assert_allclose(ex.features(64), raw / np.linalg.norm(raw, axis=1, keepdims=True),
                               rtol=0, atol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(ex.y, np.where(bunch.target[bunch.target <= 1] == 1, 1, -1))


def test_radius_and_a_short_pool():
    """The sphere's radius follows the spec (sqrt(d) in the bubeck scaling); with fewer examples
    than n_train + n_test the test set is what is left (360 digits: 260 beside 100)."""
    task = load_task("digits", 49, 100, 400, np.random.default_rng(4), radius=7.0)
    np.testing.assert_allclose(np.linalg.norm(task.X_test, axis=1), 7.0, rtol=1e-12)
    assert task.X_test.shape == (260, 49)


def test_clusters_are_the_synthetic_default():
    from theorycheck.training import cluster_task

    a = load_task("clusters", 25, 10, 5, np.random.default_rng(5))
    b = cluster_task(25, 10, 5, np.random.default_rng(5))
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)


# -- files -------------------------------------------------------------------------------------


def _two_class_images(n: int = 150, side: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 8: bright top half, class 3: bright bottom half, plus noise (labels 3 and 8)."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.5, 3, 8)
    x = rng.random((n, side, side)) * 0.2
    x[y == 8, : side // 2] += 1.0
    x[y == 3, side // 2 :] += 1.0
    return x, y


def test_a_good_file_of_images_and_of_flat_features(tmp_path):
    x, y = _two_class_images()
    f = tmp_path / "mine.npz"
    np.savez(f, x=x, y=y)
    value = resolve_data(f)
    assert value.startswith(str(f.resolve())) and "@sha256:" in value
    assert resolve_data(value) == value  # a resolved value is kept
    task = load_task(value, 16, 100, 50, np.random.default_rng(6))
    assert task.X_train.shape == (100, 16) and task.X_test.shape == (50, 16)
    np.testing.assert_allclose(np.linalg.norm(task.X_train, axis=1), 1.0, rtol=1e-12)
    # The larger label (8) is +1; rows keep their label through the split.
    top = task.X_train.reshape(100, 4, 4)[:, :2].sum(axis=(1, 2))
    bottom = task.X_train.reshape(100, 4, 4)[:, 2:].sum(axis=(1, 2))
    np.testing.assert_array_equal(task.y_train, np.where(top > bottom, 1.0, -1.0))
    # Flat features with a square count are read as images (row-major), the same numbers.
    g = tmp_path / "flat.npz"
    np.savez(g, x=x.reshape(len(x), 36), y=y)
    np.testing.assert_allclose(load_examples(resolve_data(g)).features(16),
                               load_examples(value).features(16), atol=1e-12)  # fmt: skip
    # Non-square feature counts serve only their own d.
    h = tmp_path / "five.npz"
    np.savez(h, x=np.random.default_rng(7).random((120, 5)), y=np.arange(120) % 2)
    five = resolve_data(h)
    check_data(five, 5)
    with pytest.raises(UserInputError, match="5 features, which serve only d = 5"):
        check_data(five, 4)


def _bad_files(tmp_path):
    x, y = _two_class_images()
    nan = x.copy()
    nan[3, 2, 2] = np.nan
    cases = {
        "no y": {"x": x},
        "no x": {"xs": x, "y": y},
        "y length": {"x": x, "y": y[:-1]},
        "x 1-d": {"x": x[:, 0, 0], "y": y},
        "x 4-d": {"x": x[..., None], "y": y},
        "text x": {"x": np.array(["a"] * len(y)), "y": y},
        "one class": {"x": x, "y": np.full(len(y), 8)},
        "three classes": {"x": x, "y": np.arange(len(y)) % 3},
        "nan": {"x": nan, "y": y},
        "zero image": {"x": np.concatenate([x[:-1], np.zeros((1, 6, 6))]), "y": y},
    }
    files = {}
    for name, arrays in cases.items():
        f = tmp_path / f"{name.replace(' ', '_')}.npz"
        np.savez(f, **arrays)
        files[name] = f
    files["not an npz"] = tmp_path / "notes.npz"
    files["not an npz"].write_text("x,y\n1,2\n")
    files["truncated"] = tmp_path / "truncated.npz"
    files["truncated"].write_bytes(files["nan"].read_bytes()[:300])
    files["missing"] = tmp_path / "absent.npz"
    files["directory"] = tmp_path
    return files


_EXPECTED = {
    "no y": "no array y", "no x": "no array x", "y length": "y has shape", "x 1-d": "x has shape",
    "x 4-d": "x has shape", "text x": "x has shape", "one class": "1 distinct label",
    "three classes": "3 distinct label", "nan": "NaN", "zero image": "example 149 is zero",
    "not an npz": "not a readable .npz", "truncated": "not a readable .npz",
    "missing": "no such file", "directory": "no such file",
}  # fmt: skip


def test_bad_files_raise_one_line(tmp_path):
    for name, f in _bad_files(tmp_path).items():
        with pytest.raises(UserInputError) as err:
            check_data(resolve_data(f), 16)  # the zero image is found where it is resampled
        msg = str(err.value)
        assert _EXPECTED[name] in msg, (name, msg)
        assert "\n" not in msg and f.name in msg, (name, msg)


def test_a_pickled_array_is_refused_not_loaded(tmp_path):
    f = tmp_path / "pickled.npz"
    np.savez(f, x=np.array([{"a": 1}] * 4, dtype=object), y=np.arange(4) % 2)
    with pytest.raises(UserInputError, match=r"not a readable \.npz"):
        resolve_data(f)


def test_a_file_changed_after_it_was_resolved_is_refused(tmp_path):
    x, y = _two_class_images()
    f = tmp_path / "mine.npz"
    np.savez(f, x=x, y=y)
    value = resolve_data(f)
    np.savez(f, x=x[::-1], y=y[::-1])
    # A worker process reads the file afresh (its cache is empty) and checks the hash.
    data._load_examples.cache_clear()
    with pytest.raises(UserInputError, match="changed since the run started"):
        load_examples(value)
    with pytest.raises(UserInputError, match="changed"):
        resolve_data(value)


# -- the CLI and the store ---------------------------------------------------------------------


class TinyDataSingleStep(LazySingleStep):
    """lazy-single-step at d = 16 and 25, m = 1000, 2 networks a block (both trained)."""

    def _configs(self, profile):
        for d in (16, 25):
            yield SingleStepConfig(d, 1000, 10.0, 2, 1, trained_per_block=2)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(simulations.REGISTRY, "lazy-single-step", TinyDataSingleStep())


def _run(out, *args) -> None:
    assert main(["run", "lazy-single-step", "--out", str(out), "--no-report", "--quiet",
                 *args]) == 0  # fmt: skip


def _blocks(out) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Stored blocks: relative path -> (data, provenance)."""
    found = {}
    for p in sorted((out / "lazy-single-step").rglob("block-*.parquet")):
        meta = json.loads(pq.read_schema(p).metadata[META_KEY])
        found[str(p.relative_to(out))] = (pd.read_parquet(p), meta)
    return found


def test_digits_end_to_end_stored_apart_and_reused(tmp_path, tiny, capsys):
    out = tmp_path / "res"
    _run(out, "--data", "digits")
    digits = _blocks(out)
    assert len(digits) == 2
    for df, meta in digits.values():
        assert meta["config"]["data"] == "digits"
        trained = df[df["family"] == "trained"]
        assert len(trained) == 2 and np.isfinite(trained["t_star"]).all()
        # The networks learn the digits: over seeds 0-19 (80 networks at these configs) the
        # test error on 100 test digits had mean 0.03 and maximum 0.13. A network at chance
        # (0.5) falls below 0.3 with probability P(Bin(100, 1/2) < 30) = 1.6e-5.
        assert (trained["test_error"] < 0.3).all()
    verdicts = pd.read_parquet(out / "verdicts.parquet")
    trained = verdicts[verdicts["W"] == "trained"]
    assert len(trained) and (trained["task"] == "digits").all()
    assert verdicts.loc[verdicts["W"] != "trained", "task"].isna().all()
    capsys.readouterr()
    _run(out, "--data", "digits")  # the same data: every block reused
    assert "0 blocks computed, 2 reused" in capsys.readouterr().out
    _run(out)  # clusters: other config ids, computed anew, the digits blocks untouched
    assert "2 blocks computed, 0 reused" in capsys.readouterr().out
    both = _blocks(out)
    assert len(both) == 4 and all(k in both for k in digits)
    clusters = [meta for k, (_, meta) in both.items() if k not in digits]
    assert {m["config"]["data"] for m in clusters} == {"clusters"}


def test_a_changed_file_gets_new_blocks(tmp_path, tiny, capsys):
    x, y = _two_class_images()
    f = tmp_path / "mine.npz"
    np.savez(f, x=x, y=y)
    out = tmp_path / "res"
    _run(out, "--data", str(f))
    first = _blocks(out)
    capsys.readouterr()
    _run(out, "--data", str(f))
    assert "0 blocks computed, 2 reused" in capsys.readouterr().out
    np.savez(f, x=x, y=np.where(y == 3, 8, 3))  # same arrays, labels swapped
    _run(out, "--data", str(f))
    assert "2 blocks computed, 0 reused" in capsys.readouterr().out
    assert len(_blocks(out)) == 4 and set(first) < set(_blocks(out))


@pytest.mark.parametrize("case", ["no y", "one class", "nan", "not an npz", "missing"])
def test_cli_bad_file_exit_2_one_line(tmp_path, tiny, capsys, case):
    f = _bad_files(tmp_path)[case]
    with pytest.raises(SystemExit) as ex:
        main(["run", "lazy-single-step", "--data", str(f), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and err.count("\n") == 1 and err.startswith("theorycheck: error:")
    assert _EXPECTED[case] in err
    assert not (tmp_path / "r" / "lazy-single-step").exists()  # refused before anything ran


def test_cli_data_for_a_simulation_without_trained_networks(tmp_path, capsys):
    with pytest.raises(SystemExit) as ex:
        main(["run", "lazy-sign-flips", "--data", "digits", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and err.count("\n") == 1
    assert "--data applies only to simulations that train networks" in err
    assert "lazy-sign-flips" in err and "lazy-single-step" in err


def test_cli_a_dimension_the_file_cannot_serve(tmp_path, tiny, capsys):
    f = tmp_path / "five.npz"
    np.savez(f, x=np.random.default_rng(8).random((120, 5)), y=np.arange(120) % 2)
    with pytest.raises(SystemExit) as ex:
        main(["run", "lazy-single-step", "--data", str(f), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and err.count("\n") == 1 and "serve only d = 5" in err


# -- identity ----------------------------------------------------------------------------------


def test_config_ids_keep_the_default_and_separate_the_data(tmp_path):
    cfg = LazyGradientConfig(25, 100, 10.0, (0.1,), 3, 1, 1)
    # The id this config had before the data field existed (theorycheck 2026-12-07, HEAD
    # b2c004f): stored blocks of the default data keep their ids and seeds.
    assert config_id(cfg) == "84d5f66ade3a"
    assert config_id(replace(cfg, data="clusters")) == "84d5f66ade3a"
    x, y = _two_class_images()
    f = tmp_path / "mine.npz"
    np.savez(f, x=x, y=y)
    a = resolve_data(f)
    np.savez(f, x=x, y=np.where(y == 3, 8, 3))
    b = resolve_data(f)
    ids = {config_id(replace(cfg, data=v)) for v in ("clusters", "digits", a, b)}
    assert len(ids) == 4


def test_configs_take_data_only_where_networks_are_trained():
    sim = LazySingleStep()
    quick = sim.configs("quick", data="digits")
    trained = [c for c in quick if c.trained_per_block > 0 and c.path != "exact"]
    assert trained and all(c.data == "digits" for c in trained)
    assert all(c.data == "clusters" for c in quick if c not in trained)
    # lazy-robust-error attacks every family at the task's test inputs: every config takes it.
    assert {
        c.data for c in simulations.REGISTRY["lazy-robust-error"].configs("quick", data="digits")
    } == {"digits"}
    adv = simulations.REGISTRY["lazy-adversarial-training"].configs("quick", data="digits")
    assert {c.data for c in adv} == {"digits"}  # every network is adversarially trained
    gradient = simulations.REGISTRY["lazy-gradient"].configs("full", data="digits")
    assert {c.data for c in gradient if c.trained_per_block > 0} == {"digits"}
    with pytest.raises(UserInputError, match="trains no network on a task"):
        simulations.REGISTRY["lazy-sign-flips"].configs("quick", data="digits")


def test_a_raw_path_enters_configs_and_caches_with_its_hash(tmp_path):
    x, y = _two_class_images()
    f = tmp_path / "mine.npz"
    np.savez(f, x=x, y=y)
    configs = LazySingleStep().configs("quick", data=str(f))
    assert {c.data for c in configs if c.trained_per_block > 0} == {resolve_data(f)}
    before = load_task(str(f), 16, 100, 10, np.random.default_rng(9))
    np.savez(f, x=x, y=np.where(y == 3, 8, 3))  # labels swapped: a raw path sees the new file
    after = load_task(str(f), 16, 100, 10, np.random.default_rng(9))
    np.testing.assert_array_equal(after.X_train, before.X_train)
    np.testing.assert_array_equal(after.y_train, -before.y_train)


def test_adversarial_training_trains_and_attacks_on_the_data(monkeypatch):
    """lazy-adversarial-training draws each network's task from --data (digits here) and its
    verdict rows say so."""
    import theorycheck.simulations.lazy_adversarial_training as lat
    from theorycheck.seeding import generator
    from theorycheck.simulations._common import trained_task
    from theorycheck.simulations.conformance import tiny_config

    sim = simulations.REGISTRY["lazy-adversarial-training"]
    cfg = tiny_config(sim.configs("quick", data="digits")[0])
    seen = []

    def spy(spec, rng, n_test, data):
        task = trained_task(spec, rng, n_test, data)
        seen.append((data, task.X_test))
        return task

    monkeypatch.setattr(lat, "trained_task", spy)
    df = sim.measure(cfg, generator(0, "adv-digits"))
    assert seen and all(data == "digits" for data, _ in seen)
    # digits inputs: resampled images (nonnegative pixels) on the unit sphere
    X = seen[0][1]
    assert np.all(X >= 0) and np.allclose(np.linalg.norm(X, axis=1), 1.0)
    rows = sim.evaluate({cfg: df.assign(block=0)}).verdicts
    assert rows and all(r.params().get("task") == "digits" for r in rows)
