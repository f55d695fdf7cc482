"""Stored files are verified before use: a damaged block is recomputed with one line naming it,
a damaged table the report reads stops it with one line naming the file and the command that
rebuilds it, and no single flipped bit anywhere in a block gives readable but wrong data."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _tiny import TinySignFlips

from theorycheck.cli import main
from theorycheck.runner import run
from theorycheck.store import META_KEY, BadFile, ResultsStore

SEED = 4


def _blocks(root: Path) -> list[Path]:
    return sorted(root.glob("lazy-sign-flips/*/block-*.parquet"))


def _frames(root: Path) -> dict[str, pd.DataFrame]:
    return {str(p.relative_to(root)): pd.read_parquet(p) for p in _blocks(root)}


def _assert_same(a: Path, b: Path) -> None:
    fa, fb = _frames(a), _frames(b)
    assert fa and fa.keys() == fb.keys()
    for key in fa:
        pd.testing.assert_frame_equal(fa[key], fb[key], check_exact=True)
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / "verdicts.parquet"), pd.read_parquet(b / "verdicts.parquet"),
        check_exact=True,
    )  # fmt: skip


def _data_byte(path: Path) -> int:
    """An offset in the middle of the largest column chunk (compressed page data)."""
    rg = pq.ParquetFile(path).metadata.row_group(0)
    col = max((rg.column(i) for i in range(rg.num_columns)), key=lambda c: c.total_compressed_size)
    start = col.dictionary_page_offset or col.data_page_offset
    return start + col.total_compressed_size // 2


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference")
    run([TinySignFlips()], seed=SEED, out=root, progress=False)
    return root


def test_damaged_blocks_are_recomputed_with_one_line_each(reference, tmp_path, capsys):
    root = tmp_path / "damaged"
    shutil.copytree(reference, root)
    blocks = _blocks(root)
    assert len(blocks) == 6
    flipped, truncated, garbled, swapped = blocks[0], blocks[1], blocks[2], blocks[4]
    data = bytearray(flipped.read_bytes())
    data[_data_byte(flipped)] ^= 0x08  # one bit of the compressed values
    flipped.write_bytes(data)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    data = bytearray(garbled.read_bytes())
    data[200:260] = random.Random(1).randbytes(60)
    garbled.write_bytes(data)
    shutil.copyfile(blocks[3], swapped)  # a valid block under another block's name
    capsys.readouterr()
    result = run([TinySignFlips()], seed=SEED, out=root, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert result.computed_blocks == 4 and result.reused_blocks == 2
    assert len(err) == 4, err
    assert all(line.startswith("theorycheck: recomputing ") for line in err), err
    lines = {}
    for path in (flipped, truncated, garbled, swapped):
        (lines[path],) = [line for line in err if f"{path}:" in line]  # one line names each
    assert "CRC" in lines[flipped] or "checksum" in lines[flipped]
    assert "unreadable" in lines[truncated]
    assert lines[swapped].endswith("block 1") and "seed 4, block 0, not" in lines[swapped]
    _assert_same(reference, root)


def test_blocks_stored_without_a_checksum_are_recomputed_in_one_line(reference, tmp_path, capsys):
    root = tmp_path / "old"
    shutil.copytree(reference, root)
    for path in _blocks(root)[:3]:  # as an older theorycheck wrote them: no integrity record
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[META_KEY])
        del meta["integrity"]
        table = table.replace_schema_metadata(
            {**table.schema.metadata, META_KEY: json.dumps(meta).encode()}
        )
        pq.write_table(table, path)
    capsys.readouterr()
    result = run([TinySignFlips()], seed=SEED, out=root, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert result.computed_blocks == 3
    assert len(err) == 1 and "3 stored block(s)" in err[0] and "no checksum" in err[0]
    _assert_same(reference, root)


def test_no_single_bit_flip_in_a_block_gives_wrong_data(reference, tmp_path):
    """1000 single-bit flips at random offsets of one block (fixed seed): each is either caught
    by verification or leaves the data and metadata a reader gets bit-identical (a flip in the
    magic bytes, column statistics, ... that nothing reads). None may yield other data."""
    store = ResultsStore(reference)
    path = _blocks(reference)[0]
    cfg_dir = path.parent.name
    identity = store.block_identity("lazy-sign-flips", cfg_dir.rsplit("-s", 1)[0], SEED, 0)
    good, reason = store.check_file(path, identity)
    assert reason is None
    good_meta = store.read_meta(path)
    original = path.read_bytes()
    rng = random.Random(2026)
    victim = tmp_path / "victim.parquet"
    caught = harmless = 0
    for _ in range(1000):
        data = bytearray(original)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        victim.write_bytes(data)
        df, reason = store.check_file(victim, identity)
        if reason is not None:
            caught += 1
            continue
        pd.testing.assert_frame_equal(df, good, check_exact=True)
        assert store.read_meta(victim) == good_meta
        harmless += 1
    assert caught > 500  # most of a block is page data and its checksummed metadata


def test_pages_carry_checksums_that_reads_verify(reference, tmp_path):
    path = _blocks(reference)[0]
    data = bytearray(path.read_bytes())
    data[_data_byte(path)] ^= 0x01
    victim = tmp_path / "x.parquet"
    victim.write_bytes(data)
    with pytest.raises(OSError, match="CRC"):
        pq.read_table(victim, page_checksum_verification=True)


@pytest.mark.parametrize("table", ["verdicts", "claims", "lazy-sign-flips/summary-quick-s4"])
@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_a_damaged_table_stops_the_report_with_one_line(table, damage, tmp_path, capsys):
    root = tmp_path / "results"
    run([TinySignFlips()], seed=SEED, out=root, progress=False)
    from theorycheck.bounds import catalog_frame

    ResultsStore(root).write_table("claims", catalog_frame())
    path = root / f"{table}.parquet"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        at = _data_byte(path)  # in page data (garbled statistics nobody reads would be harmless)
        garbled = bytes(b ^ 0x5A for b in data[at : at + 8])
        path.write_bytes(data[:at] + garbled + data[at + 8 :])
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["report", "--results", str(root), "--out", str(tmp_path / "r.pdf")])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1, err
    assert str(path) in err[0] and "theorycheck run" in err[0] and f"--out {root}" in err[0]
    assert not (tmp_path / "r.pdf").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_the_rebuild_command_of_a_simulation_table_names_its_run(tmp_path):
    store = ResultsStore(tmp_path)
    hint = store.rebuild_hint("lazy-sign-flips/summary-full-s12")
    assert f"theorycheck run lazy-sign-flips --profile full --seed 12 --out {tmp_path}" in hint
    store.write_table("lazy-sign-flips/summary-full-s12", pd.DataFrame({"x": [1.0]}))
    path = store.table_path("lazy-sign-flips/summary-full-s12")
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(BadFile) as info:
        store.read_table("lazy-sign-flips/summary-full-s12")
    assert info.value.path == path and "--seed 12" in str(info.value)
    assert re.fullmatch(r"[^\n]+", str(info.value))


def test_a_table_moved_to_another_name_is_refused(tmp_path):
    store = ResultsStore(tmp_path)
    store.write_table("verdicts", pd.DataFrame({"x": [1.0]}))
    os.replace(store.table_path("verdicts"), store.table_path("claims"))
    with pytest.raises(BadFile, match="holds"):
        store.read_table("claims")
    table = pa.table({"x": [1.0]})  # a Parquet file no theorycheck wrote
    pq.write_table(table, store.table_path("verdicts"))
    with pytest.raises(BadFile, match="no checksum"):
        store.read_table("verdicts")
