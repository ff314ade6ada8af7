"""Shared fixtures: every test gets a fresh plugin host and no installed plugins leak in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gd_core.plugins import PluginHost


@pytest.fixture(scope="session")
def _session_data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gd-data")


@pytest.fixture(autouse=True)
def _no_installed_plugins(monkeypatch, _session_data_dir):
    """Installed gd.plugins distributions must not change what a test sees, nor tests touch the user's cache."""
    monkeypatch.setenv("GD_LOAD_PLUGINS", "")
    monkeypatch.delenv("GD_STRICT_PLUGINS", raising=False)
    monkeypatch.setenv("GD_DATA_DIR", str(_session_data_dir))


@pytest.fixture
def host_with():
    """Build a host holding only the given plugin objects (registered under their class name)."""

    def make(*plugins: object, builtins: bool = False) -> PluginHost:
        return PluginHost(builtins=builtins, entry_points=False, plugins=plugins)

    return make


@pytest.fixture
def builtin_host() -> PluginHost:
    """A host with the built-in plugins only."""
    return PluginHost(builtins=True, entry_points=False)


@pytest.fixture(scope="session")
def wheel() -> Path:
    """The pinned genedisco 1.0.5 wheel (raw screens), fetched from PyPI into a cache on first use."""
    from tools.raw_assays import fetch_wheel

    return fetch_wheel(Path(os.environ.get("GD_RAW_CACHE", Path.home() / ".cache" / "gd-raw")))
