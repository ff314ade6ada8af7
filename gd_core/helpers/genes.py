"""Gene-name harmonisation: raw assay names → current official symbols (org.Hs.eg.db 3.16.0).

A symbol map is a table with columns ``name``, ``symbol`` and ``route``, one row per known name
(built by ``tools/org_hs_eg_db.py``; the shipped copy is ``gd_core/resources/symbol_map.tsv.gz``):

- ``symbol``: the name is an official symbol and maps to itself;
- ``alias``: an alias with one target gene;
- ``alias_protein_coding``: an alias with several targets of which exactly one is protein-coding;
- ``ambiguous``: a known name that cannot be pinned to one gene (``symbol`` is empty).

``harmonise`` never renames an official symbol, and it never lets an alias land on a gene that the same
assay already lists under its own symbol: such a pair was two genes when the library was designed.
"""

from __future__ import annotations

import csv
import functools
import gzip
import re
from importlib import resources
from pathlib import Path
from typing import Iterable, TypeVar

import numpy as np
import pandas as pd

from gd_core.errors import GdError

ROUTES = ("symbol", "alias", "alias_protein_coding", "ambiguous")
# Report keys; every raw row lands in exactly one of the first seven ("merged" counts the rows folded
# into another row's mean and overlaps the resolved keys).
REPORT_KEYS = (
    "symbol", "alias", "alias_protein_coding", "repaired", "ambiguous", "unmapped", "controls", "merged",
)

Values = TypeVar("Values", pd.Series, pd.DataFrame)


class SymbolMap:
    """Lookup from any known gene name to its official symbol and the route that got it there."""

    def __init__(self, frame: pd.DataFrame) -> None:
        missing = {"name", "symbol", "route"} - set(frame.columns)
        if missing:
            raise GdError(f"symbol map lacks columns {sorted(missing)}; expected name, symbol, route")
        frame = frame[["name", "symbol", "route"]].fillna("").astype(str)
        self._fill(zip(frame["name"].tolist(), frame["symbol"].tolist(), frame["route"].tolist()))

    def _fill(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Build the lookup from ``(name, symbol, route)`` rows, refusing a malformed map in one line."""
        # Plain dicts: harmonise looks names up one at a time and pandas' .loc is far slower per call. Each
        # name is one string object, shared by the symbol it stands for, and routes share four strings, so the
        # shipped map (143,558 names) costs ~17 MB (a frame and tuples took ~85 MB): it is loaded while a user
        # table is read, whose memory is budgeted (benchmarks/user_tables.py).
        canonical = {r: r for r in ROUTES}
        self._symbol: dict[str, str] = {}
        self._route: dict[str, str] = {}  # every name not listed here has route "symbol"
        bad: set[str] = set()
        repeated = blank = None
        for name, symbol, route in rows:
            shared = canonical.get(route)
            if shared is None:
                bad.add(route)
            elif name in self._symbol:
                repeated = name if repeated is None else repeated
            else:
                if blank is None and (symbol == "") != (shared == "ambiguous"):
                    blank = name
                self._symbol[name] = name if symbol == name else symbol
                if shared != "symbol":
                    self._route[name] = shared
        if bad:
            raise GdError(f"symbol map has unknown routes {sorted(bad)[:3]}; expected one of {list(ROUTES)}")
        if repeated is not None:
            raise GdError(f"symbol map lists {repeated!r} twice; rebuild it with tools/org_hs_eg_db.py")
        if blank is not None:
            raise GdError(f"symbol map row {blank!r} must have an empty symbol "
                          "exactly when its route is 'ambiguous'; rebuild it with tools/org_hs_eg_db.py")
        for name in self._route:  # an alias's target, where it is a name too, becomes that name's string
            target = self._symbol.get(self._symbol[name])
            if target is not None and target == self._symbol[name]:
                self._symbol[name] = target

    @property
    def table(self) -> pd.DataFrame:
        """The map as a frame indexed by ``name``, with columns ``symbol`` and ``route`` (built on each call)."""
        names = list(self._symbol)
        return pd.DataFrame({"symbol": list(self._symbol.values()),
                             "route": [self._route.get(n, "symbol") for n in names]},
                            index=pd.Index(names, name="name"))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SymbolMap:
        """Build from a frame with columns ``name``, ``symbol``, ``route`` (one row per name)."""
        return cls(frame)

    def __len__(self) -> int:
        return len(self._symbol)

    def __contains__(self, name: object) -> bool:
        return name in self._symbol

    def resolve(self, name: str) -> tuple[str, str]:
        """``(symbol, route)`` for one name; ``("", "unmapped")`` when the map does not know it."""
        symbol = self._symbol.get(name)
        if symbol is None:
            return "", "unmapped"
        return symbol, self._route.get(name, "symbol")


def load_symbol_map(path: str | Path) -> SymbolMap:
    """Read a symbol map from a (gzip) TSV with header ``name\\tsymbol\\troute``."""
    # Row by row with the csv module, so that no cell outlives its row unless the map keeps it. Cells stay
    # text: "NA" and "NULL" are gene names here.
    opener = gzip.open if str(path).endswith(".gz") else open
    symbol_map = SymbolMap.__new__(SymbolMap)
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            rows = (row for row in csv.reader(handle, delimiter="\t") if row)
            header = next(rows, [])
            missing = {"name", "symbol", "route"} - set(header)
            if missing:
                raise GdError(f"symbol map lacks columns {sorted(missing)}; expected name, symbol, route")
            at = [header.index(c) for c in ("name", "symbol", "route")]
            symbol_map._fill((row[at[0]], row[at[1]], row[at[2]]) for row in rows)
    except (OSError, EOFError, UnicodeDecodeError, IndexError, csv.Error) as exc:
        raise GdError(f"cannot read symbol map {path}: {exc}; rebuild it with tools/org_hs_eg_db.py") from exc
    return symbol_map


# Excel turns these (then official) symbols into dates. Each date form lists every old symbol it may
# stand for; forms with two candidates (1-Mar is MARCH1 or MARC1) cannot be repaired.
_EXCEL_MONTHS = {"MAR": ("MARCH", "MARC"), "SEP": ("SEPT", "SEP"), "DEC": ("DEC",)}
_EXCEL_VICTIMS = frozenset(
    [f"MARCH{d}" for d in range(1, 12)] + ["MARC1", "MARC2"]
    + [f"SEPT{d}" for d in range(1, 15)] + ["SEP15"] + ["DEC1"]
)
# Where org.Hs.eg.db's alias table points an Excel victim elsewhere: DEC1 prefers the protein-coding
# BHLHE40 and SEPT2 also aliases SEPTIN6, but a date proves the name was then official for these genes.
_EXCEL_VICTIM_NOW = {"DEC1": "DELEC1", "SEPT2": "SEPTIN2"}
_DATE = re.compile(r"(?i)(?:(\d{1,2})[-./ ]([a-z]{3})|([a-z]{3})[-./ ](\d{1,2}))")
_MIRNA = re.compile(r"(?i)hsa-(?:mir-let-|let-|mir-)(.+?)(?:-[35]p)?")
_PAR_COPY = re.compile(r"(.+)_X")  # the X copy of a pseudoautosomal gene, e.g. CD99_X
_CONTROL = re.compile(
    r"(?i)(?:non|no)[-_ ]?target(?:ing)?(?:[-_ ].*)?|ntc(?:[-_ ]?\d+.*)?|ctrl[-_ ]?\d+.*|"
    r"(?:negative[-_ ]?)?control(?:[-_ ].*)?|safe[-_ ]?targeting(?:[-_ ].*)?"
)


def _excel_candidates(name: str) -> tuple[str, ...]:
    """Old symbols that Excel could have turned into this date string (empty when it is no date)."""
    match = _DATE.fullmatch(name)
    if match is None:
        return ()
    day = match.group(1) or match.group(4)
    month = (match.group(2) or match.group(3)).upper()
    prefixes = _EXCEL_MONTHS.get(month, ())
    return tuple(s for s in (f"{p}{int(day)}" for p in prefixes) if s in _EXCEL_VICTIMS)


def _mirna_symbol(rest: str, let: bool) -> str:
    # HGNC drops the hyphen before a copy number after a letter (MIR199A1) but keeps it after a digit,
    # where dropping it would be ambiguous (MIR1-1 is not MIR11).
    body = re.sub(r"(?<=[A-Z])-(?=\d)", "", rest.upper())
    if let:
        return "MIRLET" + body.replace("-", "")
    return "MIR" + body


def repair_name(raw: str) -> str:
    """Undo known damage to one raw gene name: whitespace, Excel dates, miRBase ids, ``_X`` PAR copies.

    A name with nothing to repair, or an Excel date that could stand for two genes, comes back stripped
    but otherwise unchanged.
    """
    name = str(raw).strip()
    candidates = _excel_candidates(name)
    if len(candidates) == 1:
        return candidates[0]
    match = _MIRNA.fullmatch(name)
    if match is not None:
        let = name.lower().startswith(("hsa-let-", "hsa-mir-let-"))
        return _mirna_symbol(match.group(1), let)
    match = _PAR_COPY.fullmatch(name)
    if match is not None:
        return match.group(1)
    return name


def is_control(raw: str) -> bool:
    """Whether a raw name is a non-targeting control (``NO-TARGET``, ``Non-Targeting_12``, ``NTC``, ...).

    ``CTRL`` alone is not a control: it is the official symbol of chymotrypsin-like protease.
    """
    return _CONTROL.fullmatch(str(raw).strip()) is not None


def _resolve_raw(name: str, symbol_map: SymbolMap) -> tuple[str, str]:
    """``(symbol, route)`` for one stripped raw name, before collisions with other rows are considered."""
    # A name the map knows is taken as written: never repaired, never mistaken for a control.
    if name in symbol_map:
        return symbol_map.resolve(name)
    if is_control(name):
        return "", "controls"
    candidates = _excel_candidates(name)
    if len(candidates) > 1:
        return "", "ambiguous"
    fixed = repair_name(name)
    if fixed == name:
        return "", "unmapped"
    if candidates:
        fixed = _EXCEL_VICTIM_NOW.get(fixed, fixed)
    symbol, route = symbol_map.resolve(fixed)
    return (symbol, route) if route in ("ambiguous", "unmapped") else (symbol, "repaired")


def harmonise_names(names: list[str], symbol_map: SymbolMap) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """Where each raw name lands: its official symbol, whether its row is kept, and the report of ``harmonise``.

    ``names`` are stripped raw names, one per row. Dropped rows (controls, names that resolve to no single
    gene, aliases of a gene the list also holds under its own symbol) are not kept; kept rows that share a
    symbol are the ones ``harmonise`` averages.
    """
    resolved = [_resolve_raw(n, symbol_map) for n in names]
    symbols = [s for s, _ in resolved]
    route = np.array([r for _, r in resolved], dtype=object)

    kept = np.isin(route.astype(str), ["symbol", "alias", "alias_protein_coding", "repaired"])
    # Two library entries, one listed under the current symbol and one under an alias of it, were two
    # genes when the library was designed (DEC1 beside BHLHE40): keep the verbatim one, drop the other.
    verbatim = {s for s, r in zip(symbols, route) if r == "symbol"}
    shadowed = kept & (route != "symbol") & np.array([s in verbatim for s in symbols], dtype=bool)
    route[shadowed] = "ambiguous"
    kept &= ~shadowed

    report = {key: int(np.sum(route == key)) for key in REPORT_KEYS}
    report["merged"] = int(kept.sum()) - len({s for s, k in zip(symbols, kept) if k})
    return symbols, kept, report


def harmonise(values: Values, symbol_map: SymbolMap, *, source: str) -> tuple[Values, dict[str, int]]:
    """Re-index assay values from raw gene names to official symbols.

    Drops controls and names that resolve to no single gene, averages rows that resolve to the same
    symbol, and returns the values indexed by sorted unique symbols with a report counting raw rows per
    route (see ``REPORT_KEYS``). An alias or repaired name whose symbol the assay also lists verbatim is
    dropped as ambiguous rather than averaged into it.
    """
    if not isinstance(values, (pd.Series, pd.DataFrame)):
        raise GdError(f"assay '{source}' gave {type(values).__name__}; harmonise needs a pandas Series or "
                      "DataFrame indexed by raw gene name")
    columns = [values] if isinstance(values, pd.Series) else [values[c] for c in values.columns]
    for column in columns:
        if not pd.api.types.is_numeric_dtype(column):
            raise GdError(f"assay '{source}' has non-numeric values ({column.dtype}) in {column.name!r}; "
                          "convert them to floats before harmonising")

    raw = ["" if pd.isna(n) else str(n).strip() for n in values.index]
    symbols, kept, report = harmonise_names(raw, symbol_map)
    chosen = values[kept].set_axis(pd.Index(np.array(symbols, dtype=object)[kept], dtype=str, name="symbol"), axis=0)
    # groupby sorts its keys and averages each group under its own key, so no value changes gene.
    merged = chosen.groupby(level=0, sort=True).mean()
    if isinstance(merged, pd.Series):
        merged.name = values.name
    return merged, report


@functools.lru_cache(maxsize=1)
def default_symbol_map() -> SymbolMap:
    """The symbol map shipped with gd (org.Hs.eg.db 3.16.0), loaded once per process."""
    with resources.as_file(resources.files("gd_core") / "resources" / "symbol_map.tsv.gz") as path:
        return load_symbol_map(path)
