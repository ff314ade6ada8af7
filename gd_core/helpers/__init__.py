"""Helpers offered to plugins (and used by the built-ins): none of them is needed to understand the kernel.

- ``genes``: gene-symbol harmonisation against the shipped HGNC/NCBI symbol map.
- ``tables``: reading a user's descriptor or assay table (CSV, TSV, parquet) with clear one-line errors.
- ``downloads``: verified, cached downloads of remote data files, and gd's data directory.
- ``parallel``: the cores a process may use, and a thread map whose results do not depend on the thread count.
"""
