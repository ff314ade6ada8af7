"""What the uncertainty acquisitions actually pick, on a model fitted to real data.

    python benchmarks/acquisition_behaviour.py overlap        # adversarialBIM's batch against topuncertain's
    python benchmarks/acquisition_behaviour.py softuncertain  # softuncertain's share of top-BALD-decile picks

Each measurement fits a model on ``--n-train`` genes drawn at random from the non-test genes (one draw per
seed), then asks the acquisitions for one batch of ``--batch-size`` from the remaining pool, exactly as a
cycle of ``gd run`` would. Only public APIs are used (the registries, ``prepare``, ``Pool``), so the same
script measures an older checkout: ``PYTHONPATH=/path/to/old/checkout python benchmarks/...``.

- ``overlap``: the share of adversarialBIM's batch that topuncertain also picks from the same model, and
  (where the acquisition reports it) the share of its picks that are not the gene their adversarial point
  started from — the nearest-gene mapping of the paper's eq. 13 at work.
- ``softuncertain``: per temperature setting, the share of picks (over ``--draws`` batches) that come from
  the top tenth of the available genes by BALD score. ``random`` gives 0.10, ``topuncertain`` 1.00 (a batch
  is smaller than a tenth of the pool), so the share places softuncertain between the two.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from gd_core.errors import GdError

SETTINGS = (  # softuncertain parameter sets measured by default: (label, params)
    ("T=0.9 absolute (reference)", {"temperature": 0.9, "relative": False}),
    ("T=0.05 absolute", {"temperature": 0.05, "relative": False}),
    ("T=4 relative", {"temperature": 4.0, "relative": True}),
    ("T=2 relative", {"temperature": 2.0, "relative": True}),
    ("T=1.5 relative", {"temperature": 1.5, "relative": True}),
    ("T=1 relative", {"temperature": 1.0, "relative": True}),
    ("T=0.5 relative", {"temperature": 0.5, "relative": True}),
    ("T=0.25 relative", {"temperature": 0.25, "relative": True}),
)


def fitted(assay: str, model_name: str, n_train: int, seed: int):
    """A model fitted on ``n_train`` random non-test genes, and the pool of the other non-test genes."""
    from gd_core.data import Pool
    from gd_core.loop import RunConfig, prepare
    from gd_core.plugins import PluginHost

    registries = PluginHost(entry_points=False).registries
    config = RunConfig(assay, "gene_ontology", model_name, "random", batch_size=64, cycles=1, seed=seed)
    plan = prepare(config, registries, on_status=lambda _: None)
    rng = np.random.default_rng([seed, 77])
    acquired = np.sort(rng.choice(plan.pool, n_train, replace=False))
    model = registries.models.create(model_name)
    model.fit(plan.dataset.X[acquired], plan.dataset.y[acquired], np.random.default_rng([seed, 78]))
    available = np.setdiff1d(plan.pool, acquired)
    pool = Pool(X=plan.dataset.X, genes=plan.dataset.genes, available=available, acquired=acquired, cycle=1)
    return registries, model, pool


def bald_top_decile(model, pool) -> np.ndarray:
    """Positions of the available genes in the top tenth by BALD score (½·log(1 + posterior variance))."""
    scores = 0.5 * np.log1p(np.var(model.sample(pool.X[pool.available]), axis=0))
    cut = np.quantile(scores, 0.9)
    return pool.available[scores >= cut]


def overlap(args: argparse.Namespace) -> list[dict]:
    """adversarialBIM against topuncertain on the same fitted model, one row per seed."""
    rows = []
    for seed in range(args.seeds):
        registries, model, pool = fitted(args.assay, "bnn", args.n_train, seed)
        top = registries.acquisitions.create("topuncertain").select(
            pool, model, args.batch_size, np.random.default_rng(seed))
        adversarial = registries.acquisitions.create("adversarialBIM")
        picked = adversarial.select(pool, model, args.batch_size, np.random.default_rng(seed))
        origins = getattr(adversarial, "origins_", None)  # reported by the paper-exact version only
        rows.append({"assay": args.assay, "seed": seed,
                     "overlap_with_topuncertain": float(np.isin(picked, top).mean()),
                     "moved_to_another_gene": None if origins is None else float((origins != picked).mean())})
    return rows


def softuncertain(args: argparse.Namespace) -> list[dict]:
    """Top-BALD-decile share of softuncertain's picks per setting (and of random and topuncertain)."""
    rows = []
    shares: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        registries, model, pool = fitted(args.assay, args.model, args.n_train, seed)
        top_decile = bald_top_decile(model, pool)
        choices = [("random", "random", {}), ("topuncertain", "topuncertain", {})]
        choices += [(label, "softuncertain", params) for label, params in SETTINGS]
        for label, name, params in choices:
            try:
                acquisition = registries.acquisitions.create(name, **params)
            except GdError as refusal:
                if "relative" not in str(refusal):
                    raise
                if params.get("relative") is not False:  # an older checkout has no relative temperature
                    continue
                # ... and takes its temperature in nats, as relative=False does
                acquisition = registries.acquisitions.create(name, temperature=params["temperature"])
            draws = 1 if name == "topuncertain" else args.draws
            picked = [acquisition.select(pool, model, args.batch_size, np.random.default_rng([seed, d]))
                      for d in range(draws)]
            shares.setdefault(label, []).append(float(np.isin(np.concatenate(picked), top_decile).mean()))
    for label, values in shares.items():
        rows.append({"assay": args.assay, "model": args.model, "setting": label,
                     "top_decile_share": float(np.mean(values)), "sd_over_seeds": float(np.std(values, ddof=1))
                     if len(values) > 1 else None})
    return rows


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("overlap", "softuncertain"))
    parser.add_argument("--assay", default="schmidt_2021_il2")
    parser.add_argument("--model", default="bnn")
    parser.add_argument("--n-train", type=int, default=1280)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--draws", type=int, default=10, help="softuncertain batches drawn per seed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = overlap(args) if args.what == "overlap" else softuncertain(args)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(" | ".join(rows[0]))
    for row in rows:
        print(" | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))


if __name__ == "__main__":
    main()
