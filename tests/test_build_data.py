"""tools/build_data.py's --check: the shipped SVD is compared within a tolerance, not byte for byte."""

from __future__ import annotations

import numpy as np

from tools.build_data import SVD_ATOL, svd_difference, write_npz


def _svd_file(path, values, genes=("A1BG", "TP53", "ZNF1")):
    write_npz(path, {"X": np.asarray(values, dtype=np.float32), "genes": np.asarray(genes, dtype=str)})
    return path


def test_svd_check_accepts_machine_noise_and_refuses_real_differences(tmp_path):
    values = np.random.default_rng(0).normal(size=(3, 4))
    built = _svd_file(tmp_path / "built.npz", values)

    assert SVD_ATOL == 1e-6
    assert svd_difference(built, _svd_file(tmp_path / "same.npz", values)) is None
    assert svd_difference(built, _svd_file(tmp_path / "noise.npz", values + 1e-9)) is None
    message = svd_difference(built, _svd_file(tmp_path / "off.npz", values + 1e-3))
    assert message is not None and "\n" not in message
    assert message.startswith(str(tmp_path / "off.npz")) and "largest difference" in message
    assert "0.001" in message


def test_svd_check_refuses_other_genes_shapes_nans_and_a_missing_file(tmp_path):
    values = np.ones((3, 4))
    built = _svd_file(tmp_path / "built.npz", values)

    assert "genes" in svd_difference(built, _svd_file(tmp_path / "g.npz", values, genes=("A1BG", "TP53", "X")))
    assert "shape" in svd_difference(built, _svd_file(tmp_path / "s.npz", np.ones((3, 5))))
    nan = values.copy()
    nan[1, 2] = np.nan
    assert "largest difference" in svd_difference(built, _svd_file(tmp_path / "n.npz", nan))
    assert "missing" in svd_difference(built, tmp_path / "absent.npz")


def test_write_npz_is_deterministic(tmp_path):
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    first, second = _svd_file(tmp_path / "a.npz", values), _svd_file(tmp_path / "b.npz", values)

    assert first.read_bytes() == second.read_bytes()
    with np.load(first) as archive:
        assert np.array_equal(archive["X"], values) and list(archive["genes"]) == ["A1BG", "TP53", "ZNF1"]
