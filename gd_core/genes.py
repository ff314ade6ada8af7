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

import functools
import re
from importlib import resources
from pathlib import Path
from typing import TypeVar

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
        bad = sorted(set(frame["route"]) - set(ROUTES))
        if bad:
            raise GdError(f"symbol map has unknown routes {bad[:3]}; expected one of {list(ROUTES)}")
        dupes = frame["name"][frame["name"].duplicated()]
        if len(dupes):
            raise GdError(f"symbol map lists {dupes.iloc[0]!r} twice; rebuild it with tools/org_hs_eg_db.py")
        blank = frame["symbol"].eq("") != frame["route"].eq("ambiguous")
        if blank.any():
            raise GdError(f"symbol map row {frame['name'][blank].iloc[0]!r} must have an empty symbol "
                          "exactly when its route is 'ambiguous'; rebuild it with tools/org_hs_eg_db.py")
        self.table = frame.set_index("name")
        # A plain dict: harmonise looks names up one at a time and pandas' .loc is far slower per call.
        self._lookup = dict(zip(frame["name"], zip(frame["symbol"], frame["route"])))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SymbolMap:
        """Build from a frame with columns ``name``, ``symbol``, ``route`` (one row per name)."""
        return cls(frame)

    def __len__(self) -> int:
        return len(self._lookup)

    def __contains__(self, name: object) -> bool:
        return name in self._lookup

    def resolve(self, name: str) -> tuple[str, str]:
        """``(symbol, route)`` for one name; ``("", "unmapped")`` when the map does not know it."""
        return self._lookup.get(name, ("", "unmapped"))


def load_symbol_map(path: str | Path) -> SymbolMap:
    """Read a symbol map from a (gzip) TSV with header ``name\\tsymbol\\troute``."""
    try:
        # na_filter=False: "NA" and "NULL" are gene names here, not missing values.
        frame = pd.read_csv(path, sep="\t", dtype=str, na_filter=False, compression="infer")
    except (OSError, pd.errors.ParserError) as exc:
        raise GdError(f"cannot read symbol map {path}: {exc}; rebuild it with tools/org_hs_eg_db.py") from exc
    return SymbolMap.from_frame(frame)


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
    resolved = [_resolve_raw(n, symbol_map) for n in raw]
    symbols = pd.Index([s for s, _ in resolved], dtype=object)
    route = np.array([r for _, r in resolved], dtype=object)

    kept = np.isin(route.astype(str), ["symbol", "alias", "alias_protein_coding", "repaired"])
    # Two library entries, one listed under the current symbol and one under an alias of it, were two
    # genes when the library was designed (DEC1 beside BHLHE40): keep the verbatim one, drop the other.
    shadowed = kept & (route != "symbol") & symbols.isin(symbols[route == "symbol"])
    route[shadowed] = "ambiguous"
    kept &= ~shadowed

    report = {key: int(np.sum(route == key)) for key in REPORT_KEYS}
    chosen = values[kept].set_axis(pd.Index(symbols[kept], dtype=str, name="symbol"), axis=0)
    # groupby sorts its keys and averages each group under its own key, so no value changes gene.
    merged = chosen.groupby(level=0, sort=True).mean()
    report["merged"] = int(kept.sum() - len(merged))
    if isinstance(merged, pd.Series):
        merged.name = values.name
    return merged, report


@functools.lru_cache(maxsize=1)
def default_symbol_map() -> SymbolMap:
    """The symbol map shipped with gd (org.Hs.eg.db 3.16.0), loaded once per process."""
    with resources.as_file(resources.files("gd_core") / "resources" / "symbol_map.tsv.gz") as path:
        return load_symbol_map(path)
