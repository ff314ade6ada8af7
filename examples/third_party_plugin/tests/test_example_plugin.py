"""Tests of the example plugin, written with the helpers gd offers plugin authors (gd_core.testing)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gdisco_example
from gd_core import GdError, Pool
from gd_core.helpers.downloads import data_dir
from gd_core.testing import check_acquisition, fitted_forest, host_with, tiny_dataset, tiny_pool
from gdisco_example import UpperConfidenceBound, table_projection

# Posterior samples of eight genes (columns); gene 4 is already acquired. With kappa = 1 the scores are
# 1, 3, 3.27 (mean 0, std 3.27), 2, -, 0.82, 2, 0.5; genes 3 and 6 tie, and the lower position wins.
SAMPLES = np.array([
    [1.0, -3.0, 0.0, 2.0, 5.0, -1.0, 2.0, 0.5],
    [1.0, -3.0, 4.0, 2.0, 5.0, 1.0, 2.0, 0.5],
    [1.0, -3.0, -4.0, 2.0, 5.0, 0.0, 2.0, 0.5],
])


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, tmp_path):
    """Downloads and cached tables go to this test's own directory, never the user's cache."""
    monkeypatch.setenv("GD_DATA_DIR", str(tmp_path / "gd-data"))


class KnownSamples:
    """A fake model whose posterior samples of a gene are a column of ``samples``; X holds the position."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples
        self.calls = 0

    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        return self.samples.mean(axis=0)[X[:, 0].astype(int)]

    def sample(self, X, n=None, rng=None):
        self.calls += 1
        return self.samples[:, X[:, 0].astype(int)]


def position_pool(n_genes: int, acquired=()) -> Pool:
    """A pool whose only feature is each gene's position, so a fake model can look its samples up."""
    X = np.arange(n_genes, dtype=np.float32)[:, None]
    available = np.setdiff1d(np.arange(n_genes), acquired)
    return Pool(X=X, genes=pd.Index([f"G{i}" for i in range(n_genes)]), available=available,
                acquired=np.asarray(acquired, dtype=np.int64), cycle=1)


def select(acquisition, pool, model, batch_size):
    return acquisition.select(pool, model, batch_size, np.random.default_rng(0)).tolist()


# --- ucb ---------------------------------------------------------------------------------------------

def test_ucb_keeps_the_acquisition_contract_with_a_fitted_forest():
    data = tiny_dataset()
    pool = tiny_pool(data)
    check_acquisition(UpperConfidenceBound(kappa=2.0), fitted_forest(pool, data), pool=pool, dataset=data,
                      batch_size=8)


def test_ucb_picks_the_largest_abs_mean_plus_kappa_std():
    pool = position_pool(8, acquired=[4])
    assert select(UpperConfidenceBound(), pool, KnownSamples(SAMPLES), 3) == [2, 1, 3]


def test_ucb_with_kappa_zero_ranks_by_abs_mean():
    pool = position_pool(8, acquired=[4])
    assert select(UpperConfidenceBound(kappa=0), pool, KnownSamples(SAMPLES), 3) == [1, 3, 6]


def test_ucb_scores_in_row_chunks_alike(monkeypatch):
    samples = np.random.default_rng(1).normal(size=(5, 200))
    pool = position_pool(200, acquired=[0, 50, 199])
    whole = select(UpperConfidenceBound(kappa=0.5), pool, KnownSamples(samples), 20)
    monkeypatch.setattr(gdisco_example, "ROWS_PER_CHUNK", 16)
    model = KnownSamples(samples)
    assert select(UpperConfidenceBound(kappa=0.5), pool, model, 20) == whole
    assert model.calls == 13  # ceil(197 / 16)
    scores = np.abs(samples.mean(axis=0)) + 0.5 * samples.std(axis=0)
    expected = sorted(pool.available.tolist(), key=lambda i: (-scores[i], i))[:20]
    assert whole == expected


@pytest.mark.parametrize("kappa", [-0.1, float("nan"), float("inf"), True, "1"])
def test_ucb_refuses_a_bad_kappa(kappa):
    with pytest.raises(ValueError, match="kappa"):
        UpperConfidenceBound(kappa=kappa)


def test_ucb_refuses_a_model_sample_of_the_wrong_shape():
    class OneGeneShort(KnownSamples):
        def sample(self, X, n=None, rng=None):
            return super().sample(X)[:, :-1]

    with pytest.raises(GdError, match=r"must return \[n_samples, 7\]"):
        select(UpperConfidenceBound(), position_pool(8, acquired=[4]), OneGeneShort(SAMPLES), 3)


# --- table_projection --------------------------------------------------------------------------------

# P53 and ERBB1 are aliases of TP53 and EGFR; MYC's features are BRCA1's plus KRAS's.
FEATURES = """gene,f1,f2,f3
P53,1.0,0.0,2.0
ERBB1,0.5,-1.0,0.0
BRCA1,1.0,2.0,3.0
KRAS,-2.0,0.5,1.0
MYC,-1.0,2.5,4.0
"""


@pytest.fixture
def features_csv(tmp_path) -> Path:
    path = tmp_path / "features.csv"
    path.write_text(FEATURES)
    return path


def test_table_projection_reads_the_table_with_official_symbols(features_csv):
    table = table_projection(source=str(features_csv))
    assert table.index.tolist() == ["BRCA1", "EGFR", "KRAS", "MYC", "TP53"]
    assert table.columns.tolist() == ["f1", "f2", "f3"]
    assert table.loc["TP53"].tolist() == [1.0, 0.0, 2.0]
    assert (table.dtypes == np.float32).all()


def test_table_projection_projects_to_dims_deterministically(features_csv):
    projected = table_projection(source=str(features_csv), dims=2, seed=7)
    assert projected.shape == (5, 2)
    assert projected.index.tolist() == ["BRCA1", "EGFR", "KRAS", "MYC", "TP53"]
    assert (projected.dtypes == np.float32).all()
    pd.testing.assert_frame_equal(projected, table_projection(source=str(features_csv), dims=2, seed=7))
    assert not np.allclose(projected, table_projection(source=str(features_csv), dims=2, seed=8))
    # a linear map: MYC = BRCA1 + KRAS survives the projection
    np.testing.assert_allclose(projected.loc["MYC"], projected.loc["BRCA1"] + projected.loc["KRAS"], atol=1e-5)


def test_table_projection_caches_the_processed_table(features_csv, monkeypatch):
    first = table_projection(source=str(features_csv), dims=2)
    assert [p.name for p in (data_dir() / "processed").iterdir() if p.name.startswith("table_projection-")]

    def unread(*args, **kwargs):
        raise AssertionError("the cached table should have been used")

    monkeypatch.setattr("gd_core.helpers.tables.read_descriptor_file", unread)
    pd.testing.assert_frame_equal(table_projection(source=str(features_csv), dims=2), first)


def test_table_projection_without_a_source_says_how_to_give_one():
    with pytest.raises(ValueError, match=r"--param descriptor\.source="):
        table_projection()


def test_table_projection_refuses_a_missing_file(tmp_path):
    with pytest.raises(GdError, match="no such file"):
        table_projection(source=str(tmp_path / "absent.csv"))


@pytest.mark.parametrize("dims", [0, -3, 2.5, True])
def test_table_projection_refuses_bad_dims(features_csv, dims):
    with pytest.raises(ValueError, match="dims"):
        table_projection(source=str(features_csv), dims=dims)


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 serving FEATURES as /features.csv; yields (url, list of requests)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "features.csv").write_text(FEATURES)
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # a proxy configured in the environment must not be asked for a loopback address
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/features.csv", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_table_projection_downloads_a_url_once_and_caches_it(served):
    url, requests = served
    first = table_projection(source=url)
    assert first.index.tolist() == ["BRCA1", "EGFR", "KRAS", "MYC", "TP53"]
    downloaded = list((data_dir() / "downloads").glob("table_projection-*-features.csv"))
    assert len(downloaded) == 1
    pd.testing.assert_frame_equal(table_projection(source=url), first)
    projected = table_projection(source=url, dims=2)
    assert projected.shape == (5, 2)
    assert requests == ["/features.csv"]


def test_table_projection_downloads_a_damaged_copy_again(served):
    url, requests = served
    first = table_projection(source=url)
    (downloaded,) = (data_dir() / "downloads").glob("table_projection-*-features.csv")
    downloaded.write_text(FEATURES.replace("1.0", "9.0"))
    pd.testing.assert_frame_equal(table_projection(source=url), first)
    assert len(requests) == 2


def test_table_projection_says_what_to_do_when_a_url_fails(served):
    url, _ = served
    with pytest.raises(GdError, match=r"HTTP 404.*check the URL.*--param descriptor\.source=PATH"):
        table_projection(source=url.replace("features.csv", "absent.csv"))


# --- registration ------------------------------------------------------------------------------------

def test_the_plugin_registers_ucb_and_table_projection():
    host = host_with(gdisco_example)
    (record,) = host.records
    assert record.error is None
    assert record.registered == {"descriptor": ["table_projection"], "acquisition": ["ucb_kappa"]}
    assert host.registries.acquisitions.get("ucb_kappa").summary.startswith("Upper confidence bound")
    assert host.registries.acquisitions.create("ucb_kappa", kappa=0.5).kappa == 0.5


def test_registry_errors_name_the_component_and_the_way_out():
    registries = host_with(gdisco_example).registries
    with pytest.raises(GdError, match="acquisition 'ucb_kappa': kappa must be"):
        registries.acquisitions.create("ucb_kappa", kappa=-1)
    with pytest.raises(GdError, match=r"descriptor 'table_projection': .*--param descriptor\.source="):
        registries.descriptors.create("table_projection")
