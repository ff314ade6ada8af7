"""Play the lab for a gd campaign: "measure" a plate by looking its genes up in a finished screen.

    python examples/simulated_lab.py il2/round-0/proposal.csv results-0.csv [--screen schmidt_2021_il2]

Writes ``gene,value`` for every gene of the plate, the value being the screen's (a gene the screen did not
measure is left out, as a failed well would be). A real lab writes the same file from its own measurements.
"""

from __future__ import annotations

import argparse

import pandas as pd

from gd_core import load


def main() -> None:
    """Read the plate, look each gene up in the screen, write the results table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plate", help="a campaign's round-N/proposal.csv (or any CSV with a gene column)")
    parser.add_argument("results", help="where to write gene,value")
    parser.add_argument("--screen", default="schmidt_2021_il2", help="a registered assay to read the values from")
    args = parser.parse_args()
    screen = load("assay", args.screen)
    genes = pd.read_csv(args.plate, dtype={"gene": str}, keep_default_na=False)["gene"]
    values = screen.reindex(genes)
    measured = values.dropna()
    measured.rename_axis("gene").rename("value").reset_index().to_csv(args.results, index=False)
    print(f"measured {len(measured)} of {len(genes)} genes of {args.plate} in {args.screen} → {args.results}")


if __name__ == "__main__":
    main()
