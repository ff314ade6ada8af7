"""The bad inputs: what a new, careless or unlucky user types, each as a `Case` record.

Names are ``GROUP.WHAT.HOW``. A case's ``why`` says why gd must refuse it; ``culprit`` is what the one line
should name (the option as typed, the file, the key or the component). Cases are grouped by what they feed:
``run`` (options), ``param``, ``plugin``, ``table`` (user files), ``sweep``, ``spec`` (sweep spec files),
``scheduler``, ``report``, ``plot``, ``data`` and ``list``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from tools.audit_cases.common import Case, Result, Sandbox, Setup, tiny_run, tiny_sweep
from tools.audit_cases.fixtures import GO_DATA

# ------------------------------------------------------------------------------------------ setup helpers


def steps(*setups: Setup) -> Setup:
    """Several setups in order."""
    def setup(box: Sandbox) -> None:
        for step in setups:
            step(box)
    return setup


def write(relative: str, content: str | bytes, mode: int | None = None) -> Setup:
    """Write a file into the working directory."""
    def setup(box: Sandbox) -> None:
        box.write(relative, content, mode)
    return setup


def mkdir(relative: str, mode: int | None = None) -> Setup:
    """Make a directory (with ``mode``, e.g. 0o555 for read-only)."""
    def setup(box: Sandbox) -> None:
        box.path(relative).mkdir(parents=True, exist_ok=True)
        if mode is not None:
            box.path(relative).chmod(mode)
    return setup


def chmod(relative: str, mode: int) -> Setup:
    """Change a path's mode (0o000: unreadable; 0o555: read-only directory)."""
    return lambda box: box.path(relative).chmod(mode)


def fixture(name: str, relative: str = "", to: str | None = None) -> Setup:
    """Copy a fixture's file or directory into the working directory."""
    def setup(box: Sandbox) -> None:
        box.copy(box.fixtures.path(name, relative), to or relative or name)
    return setup


def variant(source: str, to: str, change: Callable[[str], str | bytes]) -> Setup:
    """Write ``to`` as ``change`` of the ``tables`` fixture's file ``source``."""
    def setup(box: Sandbox) -> None:
        box.write(to, change(box.fixtures.path("tables", source).read_text(encoding="utf-8")))
    return setup


def damaged_sweep(relative: str, change: Callable[[Path], None]) -> Setup:
    """Copy the finished ``sweep`` fixture to ``sweep/`` and apply ``change`` to ``relative`` in its first run.

    ``relative`` is a path inside ``runs/<first key>/``, or, starting with ``/``, inside the sweep directory.
    """
    def setup(box: Sandbox) -> None:
        box.copy(box.fixtures.path("sweep", "sweep"), "sweep")
        root = box.path("sweep")
        change(root / relative[1:] if relative.startswith("/") else _first_run(root) / relative)
    return setup


def _first_run(sweep: Path) -> Path:
    return sorted((sweep / "runs").iterdir())[0]


def replace_text(old: str, new: str) -> Callable[[Path], None]:
    """Replace text in a file."""
    return lambda path: path.write_text(path.read_text().replace(old, new, 1))


def set_text(text: str | bytes) -> Callable[[Path], None]:
    """Overwrite a file."""
    return lambda path: path.write_bytes(text if isinstance(text, bytes) else text.encode())


def truncate_half(path: Path) -> None:
    """Cut a file in the middle of a line."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 3])


def edit_json(change: Callable[[dict], object]) -> Callable[[Path], None]:
    """Rewrite a JSON file with ``change(document)``."""
    def apply(path: Path) -> None:
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return apply


def sweep_json_without_assay(document: dict) -> dict:
    """sweep.json whose first run lacks its 'assay' setting."""
    first = sorted(document["runs"])[0]
    del document["runs"][first]["assay"]
    return document


def turn_into_file(path: Path) -> None:
    """Replace a run directory by a file of the same name."""
    shutil.rmtree(path.parent)
    path.parent.write_text("not a run\n")


def unreadable(path: Path) -> None:
    """chmod 000."""
    path.chmod(0)


def garbage_failure(path: Path) -> None:
    """Turn a finished run into a failed one whose failure.json is garbage."""
    (path.parent / "config.json").unlink()
    path.write_bytes(b"\x00\xffgarbage")


# ------------------------------------------------------------------------------------------------ checks

def mentions_first_run(box: Sandbox, result: Result) -> str | None:
    """A report that exits 0 must name the damaged run (its key) or say 'damaged'."""
    key = _first_run(box.path("sweep")).name
    text = (result.stdout + result.stderr).lower()
    return None if key in text or "damaged" in text else f"exit 0 and the damaged run {key} is not mentioned"


def mentions_sweep_json(box: Sandbox, result: Result) -> str | None:
    """A report that exits 0 on a damaged sweep.json must say so."""
    text = (result.stdout + result.stderr).lower()
    return None if "sweep.json" in text or "damaged" in text else "exit 0 and the damaged sweep.json is not mentioned"


def plot_written(box: Sandbox, result: Result) -> str | None:
    """A plot that exits 0 must have written its file."""
    return None if box.path("nowhere/c.png").is_file() else "exit 0 but nowhere/c.png was not written"


def same_metrics_as_cached_run(box: Sandbox, result: Result) -> str | None:
    """A run on gene_ontology dims=8 that exits 0 must give the metrics of the run that filled a cache."""
    clean = box.fixtures.path("go_cache", "run/metrics.csv").read_bytes()
    try:
        same = box.path("out/metrics.csv").read_bytes() == clean
    except OSError:
        return "exit 0 but no out/metrics.csv"
    return None if same else "exit 0 with other metrics than a run with a writable cache"


def run_of_600_genes(box: Sandbox, result: Result) -> str | None:
    """An accepted user table must give the same 600 genes × 8 features as the plain file."""
    try:
        data = json.loads(box.path("out/config.json").read_text())["data"]
    except (OSError, ValueError, KeyError) as exc:
        return f"exit 0 but no readable out/config.json ({exc})"
    shape = (data.get("n_genes"), data.get("n_features"))
    return None if shape == (600, 8) else f"read {shape[0]} genes × {shape[1]} features instead of 600 × 8"


# ----------------------------------------------------------------------------------------- case builders

CASES: list[Case] = []


def case(name: str, argv: tuple[str, ...], why: str, **options) -> None:
    """Add a case to the audit."""
    CASES.append(Case(name, tuple(argv), why, **options))


def run_option(option: str, values: dict[str, str], why: str) -> None:
    """One case per bad value of a ``gd run`` option, appended to a valid tiny run."""
    for how, value in values.items():
        case(f"run.{option.strip('-')}.{how}", tiny_run(option, value), f"{option} {value!r}: {why}", culprit=option)


def param(name: str, assignment: str, why: str, *, model: str = "random_forest", acquisition: str = "random",
          data: tuple[str, ...] | None = None, culprit: str | None = None, **options) -> None:
    """A case for one ``--param`` value on the tiny run (with the model and acquisition it concerns)."""
    run = tiny_run("--param", assignment, model=model, acquisition=acquisition,
                   **({"data": data} if data is not None else {}))
    key = assignment.split("=")[0].split(".")[-1]
    case(f"param.{name}", run, f"--param {assignment}: {why}", culprit=culprit or key, **options)


# --------------------------------------------------------------------------------------------- gd run

run_option("--batch-size", {"text": "abc", "zero": "0", "negative": "-5", "fraction": "1.5", "empty": "",
                            "huge": "99999999999999999999"}, "genes per cycle is a whole number ≥ 1 that fits the pool")
run_option("--cycles", {"text": "abc", "zero": "0", "negative": "-1", "huge": "1000000"},
           "cycles is a whole number ≥ 1 that fits the pool")
run_option("--seed", {"negative": "-1", "text": "abc", "fraction": "1.5"}, "a seed is a whole number ≥ 0")
run_option("--split-seed", {"negative": "-1", "empty": "", "capital": "Seed"},
           "a split seed is a whole number ≥ 0 or 'seed'")
run_option("--test-fraction", {"zero": "0", "one": "1", "negative": "-0.2", "nan": "nan", "text": "abc",
                               "no_test_gene": "0.0001", "no_pool_left": "0.99"},
           "a share strictly between 0 and 1 that leaves test and pool genes")
run_option("--hit-fraction", {"zero": "0", "above_one": "1.5", "nan": "nan", "inf": "inf"}, "a share in (0, 1]")
run_option("--protocol", {"typo": "discobx", "capital": "GeneDisco", "empty": ""}, "protocols are named in `gd list protocols`")
case("run.protocol.test_fraction", tiny_run("--protocol", "biodiscoveryagent", "--test-fraction", "0.2"),
     "biodiscoveryagent has no test split", culprit="--test-fraction")
case("run.protocol.error_metric", tiny_run("--protocol", "discobax", "--metric", "mse"),
     "mse needs a test split, which discobax lacks", culprit="mse")
case("run.metric.typo", tiny_run("--metric", "msee"), "no metric 'msee' (mse)", culprit="msee")
case("run.metric.empty", tiny_run("--metric", ""), "an empty metric name", culprit="metric")
case("run.metric.twice", tiny_run("--metric", "mse", "--metric", "mse"), "the same metric twice", culprit="mse")
case("run.metric.capitals", tiny_run("--metric", "MSE"), "names are snake_case: 'mse'", culprit="MSE")
case("run.model.typo", tiny_run(model="random_forrest"), "no model 'random_forrest'", culprit="random_forrest")
case("run.model.empty", tiny_run(model=""), "an empty model name", culprit="model")
case("run.model.class_name", tiny_run(model="RandomForest"), "the registry name is random_forest",
     culprit="RandomForest")
case("run.acquisition.typo", tiny_run(acquisition="topuncertian"), "no acquisition 'topuncertian'",
     culprit="topuncertian")
case("run.acquisition.empty", tiny_run(acquisition=""), "an empty acquisition name", culprit="acquisition")
case("run.acquisition.all", tiny_run(acquisition="all"), "'all' is for gd sweep; gd run takes one", culprit="all")
case("run.acquisition.incompatible", tiny_run(acquisition="badge"), "badge needs gradient embeddings, "
     "random_forest has none", culprit="badge")
SIMULATED_DESCRIPTOR = ("--descriptor", "simulated", "--param", "descriptor.n_genes=600",
                        "--param", "descriptor.n_features=8")
SIMULATED_ASSAY = ("--assay", "simulated", "--param", "assay.n_genes=600")


def assay_is(name: str) -> tuple[str, ...]:
    """The tiny run with ``--assay name`` (and no simulated-assay parameters)."""
    return tiny_run(data=("--assay", name, *SIMULATED_DESCRIPTOR))


def descriptor_is(name: str) -> tuple[str, ...]:
    """The tiny run with ``--descriptor name`` (and no simulated-descriptor parameters)."""
    return tiny_run(data=(*SIMULATED_ASSAY, "--descriptor", name))


case("run.assay.typo", assay_is("schmidt_2021_il3"), "no assay 'schmidt_2021_il3'", culprit="schmidt_2021_il3")
case("run.assay.empty", assay_is(""), "an empty assay name", culprit="assay")
case("run.assay.missing_file", assay_is("missing.csv"), "the file does not exist", culprit="missing.csv")
case("run.assay.directory", assay_is("adir/"), "a directory is not a table", culprit="adir", setup=mkdir("adir"))
case("run.descriptor.typo", descriptor_is("gene_ontolgy"), "no descriptor 'gene_ontolgy'", culprit="gene_ontolgy")
case("run.descriptor.empty", descriptor_is(""), "an empty descriptor name", culprit="descriptor")
case("run.descriptor.offline_download", descriptor_is("achilles"),
     "achilles must be downloaded and this machine is offline", culprit="achilles")
case("run.out.file", tiny_run(out="afile"), "--out is a file", culprit="afile", setup=write("afile", "x\n"))
case("run.out.under_file", tiny_run(out="afile/run"), "--out is under a file", culprit="afile",
     setup=write("afile", "x\n"))
case("run.out.foreign_dir", tiny_run(out="notes"), "--out holds someone's files", culprit="notes",
     setup=write("notes/todo.txt", "keep me\n"))
case("run.out.finished_no_force", tiny_run(out="run"), "--out holds a finished run and --force is absent",
     culprit="--force", setup=fixture("run", "run"))
case("run.out.empty", tiny_run(out=""), "an empty --out is the current directory, which holds other files",
     culprit="--out", setup=write("notes.txt", "keep me\n"))
case("run.out.read_only_parent", tiny_run(out="ro/run"), "cannot write under a read-only directory",
     culprit="ro", setup=mkdir("ro", 0o555))
case("run.option.typo", tiny_run("--seeed", "1"), "no option --seeed (--seed)", culprit="--seeed")
case("run.option.missing_value", tiny_run("--batch-size"), "--batch-size needs a value", culprit="--batch-size")
case("run.option.extra_argument", tiny_run("extra"), "gd run takes no positional argument", culprit="extra")
case("run.command.typo", ("rn", "--out", "x"), "no command 'rn'", culprit="rn")

# ---------------------------------------------------------------------------------------------- --param

for how, assignment in {"no_equals": "model.n_estimators", "no_kind": "n_estimators=10", "no_key": "model.=3",
                        "empty": "", "space": "model n_estimators=3"}.items():
    case(f"param.malformed.{how}", tiny_run("--param", assignment), f"--param {assignment!r} is not KIND.KEY=VALUE",
         culprit="--param")
param("unknown.kind", "modle.n_estimators=10", "no kind 'modle' (model)", culprit="modle")
param("unknown.key", "model.n_estimator=10", "random_forest has no n_estimator (n_estimators)",
      culprit="n_estimator")
param("unknown.name_in_run", "softuncertain.temperature=0.1", "gd run takes KIND.KEY", acquisition="softuncertain",
      culprit="softuncertain")
for how, value in {"text": "abc", "zero": "0", "fraction": "2.5", "bool": "true", "null": "null"}.items():
    param(f"random_forest.n_estimators.{how}", f"model.n_estimators={value}", "trees: a whole number ≥ 1")
FOREST_VALUES = {"max_depth": {"negative": "-1", "text": "abc"}, "min_samples_leaf": {"zero": "0", "float_zero": "0.0"},
                 "n_jobs": {"text": "abc", "zero": "0"}}
for key, values in FOREST_VALUES.items():
    for how, value in values.items():
        param(f"random_forest.{key}.{how}", f"model.{key}={value}", "outside what scikit-learn accepts")
for how, assignment in [("hidden_sizes_empty", "hidden_sizes=[]"), ("dropout_one", "dropout=1"),
                        ("dropout_nan", "dropout=NaN"), ("patience_text", "patience=abc"), ("lr_negative", "lr=-1"),
                        ("folds_one", "folds=1"), ("unknown", "width=3")]:
    param(f"bnn.{how}", f"model.{assignment}", "outside the bnn's range (or not one of its parameters)", model="bnn")
ACQUISITION_PARAMS = {
    "random": [("extra", "acquisition.x=1")],
    "topuncertain": [("extra", "acquisition.n=5")],
    "marginsample": [("extra", "acquisition.k=3")],
    "descriptor_norm": [("extra", "acquisition.p=2")],
    "softuncertain": [("zero", "acquisition.temperature=0"), ("text", "acquisition.temperature=abc"),
                      ("inf", "acquisition.temperature=Infinity"), ("relative_text", "acquisition.relative=yes"),
                      ("typo", "acquisition.temp=1")],
    "kmeans_data": [("n_init_zero", "acquisition.n_init=0"), ("max_iter_negative", "acquisition.max_iter=-1"),
                    ("max_fit_genes_zero", "acquisition.max_fit_genes=0")],
    "kmeans_embedding": [("n_init_zero", "acquisition.n_init=0")],
    "coreset": [("extra", "acquisition.metric=l1")],
    "badge": [("pseudo_label", "acquisition.pseudo_label=foo")],
    "adversarialBIM": [("gamma_negative", "acquisition.gamma=-1"), ("steps_fraction", "acquisition.steps=2.5")],
}
NEEDS_BNN = {"kmeans_embedding", "coreset", "badge", "adversarialBIM"}  # embeddings or gradients
for acquisition, assignments in ACQUISITION_PARAMS.items():
    for how, assignment in assignments:
        param(f"{acquisition}.{how}", assignment, f"not a valid parameter value of {acquisition}",
              acquisition=acquisition, model="bnn" if acquisition in NEEDS_BNN else "random_forest")
for kind, key, how, value in [("descriptor", "n_genes", "zero", "0"), ("descriptor", "n_genes", "text", "abc"),
                              ("descriptor", "n_genes", "fraction", "2.5"), ("descriptor", "n_features", "zero", "0"),
                              ("descriptor", "seed", "negative", "-1"), ("descriptor", "bogus", "unknown", "1"),
                              ("assay", "noise", "negative", "-1"), ("assay", "noise", "nan", "NaN"),
                              ("assay", "n_modules", "negative", "-2")]:
    param(f"simulated.{kind}.{key}.{how}", f"{kind}.{key}={value}", "outside what the simulated screen takes")
BUNDLED_DATA = ("--assay", "schmidt_2021_il2", "--descriptor", "gene_ontology")
# A billion genes would need ~32 GB; the address space is capped so an unguarded attempt fails fast.
param("simulated.descriptor.n_genes.huge", "descriptor.n_genes=1000000000", "more genes than memory holds",
      limits={"RLIMIT_AS": 6 << 30})
for how, assignment in {"zero": "descriptor.dims=0", "huge": "descriptor.dims=100000",
                        "tfidf_text": "descriptor.tfidf=maybe"}.items():
    param(f"gene_ontology.{how}", assignment, "outside what gene_ontology takes", data=BUNDLED_DATA)
param("bundled_assay.unknown", "assay.column=lfc", "a bundled assay takes no parameters", data=BUNDLED_DATA)

# ---------------------------------------------------------------------------------------------- --plugin

HEAD = "import numpy as np\nimport pandas as pd\nfrom gd_core import hookimpl\n\n"
GENES = "[f'SIM{i:07d}' for i in range(600)]"


def model_plugin(predict: str, fit: str = "return self", extra: str = "") -> str:
    """A plugin registering model 'broken' with the given method bodies."""
    return HEAD + f"""
class Broken:
    \"\"\"Audit: a broken model.\"\"\"

    def fit(self, X, y, rng):
        {fit}

    def predict(self, X):
        {predict}
{extra}

@hookimpl
def gd_register_models(register):
    register("broken", Broken)
"""


def acquisition_plugin(select: str) -> str:
    """A plugin registering acquisition 'broken' whose select returns ``select``."""
    return HEAD + f"""
class Broken:
    \"\"\"Audit: a broken acquisition.\"\"\"

    requires = ()

    def select(self, pool, model, batch_size, rng):
        return {select}


@hookimpl
def gd_register_acquisitions(register):
    register("broken", Broken)
"""


def registering(hook: str, body: str) -> str:
    """A plugin with one hook implementation."""
    return HEAD + f"@hookimpl\ndef {hook}(register):\n    {body}\n"


def plugin_case(name: str, source: str | bytes | None, why: str, *, file: str = "plugin.py",
                culprit: str | None = None, setup: Setup | None = None, extra: tuple[str, ...] = (), **run) -> None:
    """A gd run loading ``source`` as ``--plugin FILE`` (None: the file is not written)."""
    setup = setup or (write(file, source) if source is not None else None)
    case(f"plugin.{name}", tiny_run("--plugin", file, *extra, **run), why, setup=setup,
         culprit=culprit or file.rstrip("/"))


plugin_case("missing", None, "the file does not exist")
plugin_case("directory", None, "a directory is not a plugin file", file="pdir/", setup=mkdir("pdir"),
            culprit="pdir")
plugin_case("syntax_error", "def broken(:\n", "a syntax error")
plugin_case("import_error", "import gd_no_such_module_xyz\n", "imports a module that is not installed")
plugin_case("raises_at_import", "raise RuntimeError('plugin exploded at import')\n", "raises while imported")
plugin_case("not_utf8", b"# \xff\xfe caf\xe9\nx = 1\n", "not UTF-8 Python source")
plugin_case("text_file", "x = 1\n", "not a .py file", file="plugin.txt")
plugin_case("registers_nothing", "x = 1\n", "defines no hook")
plugin_case("bad_signature", HEAD + "@hookimpl\ndef gd_register_models(registr):\n    pass\n",
            "the hook's argument is misspelt (register)")
plugin_case("misspelt_hook", HEAD + "@hookimpl\ndef gd_register_model(register):\n    pass\n",
            "no hook gd_register_model (gd_register_models)")
plugin_case("no_hookimpl", HEAD + "def gd_register_models(register):\n    pass\n",
            "gd_register_models without @hookimpl")
plugin_case("duplicate_name", registering("gd_register_models", "register('random_forest', object)"),
            "random_forest is registered already", culprit="random_forest")
plugin_case("factory_not_callable", registering("gd_register_models", "register('number', 42)"),
            "a factory must be callable", culprit="number")
plugin_case("bad_name", registering("gd_register_models", "register('Bad Name!', object)"),
            "names are snake_case", culprit="Bad Name!")
plugin_case("hook_raises", registering("gd_register_models", "raise RuntimeError('registration exploded')"),
            "the hook raises")
plugin_case("factory_needs_argument", registering("gd_register_models", "register('broken', lambda size: None)"),
            "the factory needs an argument gd cannot give", model="broken", culprit="broken")
plugin_case("model_nan", model_plugin("return np.full(len(X), np.nan)"), "the model predicts NaN",
            model="broken", culprit="broken")
plugin_case("model_inf", model_plugin("return np.full(len(X), np.inf)"), "the model predicts inf",
            model="broken", culprit="broken")
plugin_case("model_wrong_length", model_plugin("return np.zeros(len(X) + 1)"), "one prediction too many",
            model="broken", culprit="broken")
plugin_case("model_two_columns", model_plugin("return np.zeros((len(X), 2))"), "predictions of shape (n, 2)",
            model="broken", culprit="broken")
plugin_case("model_strings", model_plugin("return np.array(['a'] * len(X))"), "text predictions",
            model="broken", culprit="broken")
plugin_case("model_none", model_plugin("return None"), "predict returns None", model="broken", culprit="broken")
plugin_case("model_fit_raises", model_plugin("return np.zeros(len(X))", fit="raise RuntimeError('fit exploded')"),
            "fit raises", model="broken", culprit="broken")
plugin_case("model_bad_samples", model_plugin(
    "return np.zeros(len(X))",
    extra="\n    def sample(self, X, n=None, rng=None):\n        return np.zeros((3, len(X) + 1))\n"),
    "posterior samples of the wrong shape", model="broken", acquisition="topuncertain", culprit="broken")
plugin_case("acquisition_duplicates", acquisition_plugin("[pool.available[0]] * batch_size"),
            "the same gene every time", acquisition="broken", culprit="broken")
plugin_case("acquisition_out_of_range", acquisition_plugin("pool.available[:batch_size] + 10**9"),
            "positions beyond the data", acquisition="broken", culprit="broken")
plugin_case("acquisition_floats", acquisition_plugin("pool.available[:batch_size].astype(float)"),
            "positions as floats", acquisition="broken", culprit="broken")
plugin_case("acquisition_acquired", acquisition_plugin("pool.acquired[:batch_size]"),
            "genes acquired already", acquisition="broken", culprit="broken")
plugin_case("acquisition_raises", acquisition_plugin("1 / 0"), "select raises", acquisition="broken",
            culprit="broken")
plugin_case("metric_text", registering("gd_register_metrics",
                                       "register('broken', lambda: lambda pool, model, truth: 'high')"),
            "a metric returning text", culprit="broken", extra=("--metric", "broken"))
# Found by a second hostile pass: values float() would read, and plugins that exit instead of raising.
for how, value in (("metric_numeric_text", "'0.5'"), ("metric_bool", "True")):
    plugin_case(how, registering("gd_register_metrics", f"register('broken', lambda: lambda pool, model, truth: "
                                                        f"{value})"),
                f"a metric returning {value}, which float() would accept", culprit="broken",
                extra=("--metric", "broken"))
plugin_case("exit0_at_import", "import sys\nsys.exit(0)\n", "calls sys.exit(0) while imported")
plugin_case("exit3_in_hook", registering("gd_register_metrics", "raise SystemExit(3)"),
            "calls sys.exit(3) while registering")
for how, body, why in [
        ("list", "return [1, 2, 3]", "a descriptor that is a list"),
        ("nan", f"return pd.DataFrame(np.full((600, 4), np.nan), index={GENES})", "a descriptor of NaN"),
        ("duplicate_genes", "return pd.DataFrame(np.ones((600, 4)), index=['SIM0000000'] * 600)",
         "one gene 600 times"),
        ("no_overlap", "return pd.DataFrame(np.ones((600, 4)), index=[f'OTHER{i}' for i in range(600)])",
         "no gene in common with the assay")]:
    plugin_case(f"descriptor_{how}", HEAD + f"def broken():\n    {body}\n\n\n@hookimpl\n"
                "def gd_register_treatment_descriptors(register):\n    register('broken', broken)\n", why,
                culprit="broken", data=("--descriptor", "broken", "--assay", "simulated",
                                        "--param", "assay.n_genes=600"))
plugin_case("assay_two_columns", HEAD + f"def broken():\n    return pd.DataFrame(np.ones((600, 2)), index={GENES})"
            "\n\n\n@hookimpl\ndef gd_register_assays(register):\n    register('broken', broken)\n",
            "an assay must be one value per gene", culprit="broken",
            data=("--assay", "broken", "--descriptor", "simulated", "--param", "descriptor.n_genes=600",
                  "--param", "descriptor.n_features=8"))

# ---------------------------------------------------------------------------------------- user tables

TABLES = steps(fixture("tables", "assay.csv"), fixture("tables", "descriptor.csv"))


def table_case(name: str, file: str, why: str, setup: Setup | None = None, *, role: str = "assay",
               extra: tuple[str, ...] = (), **options) -> None:
    """A gd run whose ``--assay`` (or ``--descriptor``) is ``file``, the other table being the valid fixture."""
    other = "descriptor.csv" if role == "assay" else "assay.csv"
    data = ("--assay", file, "--descriptor", other) if role == "assay" else ("--assay", other, "--descriptor", file)
    options.setdefault("culprit", file.rstrip("/"))
    case(f"table.{role}.{name}", tiny_run(*extra, data=data), why, setup=steps(TABLES, setup) if setup else TABLES,
         **options)


def lines(text: str) -> list[str]:
    """A table's lines."""
    return text.splitlines()


def first_rows(n: int) -> Callable[[str], str]:
    """The header and the first ``n`` rows."""
    return lambda text: "\n".join(lines(text)[: n + 1]) + "\n"


def cell(row: int, value: str) -> Callable[[str], str]:
    """Set the last cell of data row ``row`` to ``value``."""
    def change(text: str) -> str:
        rows = lines(text)
        rows[row] = rows[row].rsplit(",", 1)[0] + "," + value
        return "\n".join(rows) + "\n"
    return change


def every_value(value: str) -> Callable[[str], str]:
    """Every data row's last cell set to ``value``."""
    return lambda text: "\n".join([lines(text)[0]] + [r.rsplit(",", 1)[0] + "," + value
                                                     for r in lines(text)[1:]]) + "\n"


for role, source in (("assay", "assay.csv"), ("descriptor", "descriptor.csv")):
    bad = f"bad_{role}.csv"
    if role == "assay":  # the descriptor is read by the same code up to here
        table_case("empty", bad, "an empty file", variant(source, bad, lambda t: ""), role=role)
        table_case("header_only", bad, "no data rows", variant(source, bad, first_rows(0)), role=role)
        table_case("binary", bad, "random bytes", write(bad, bytes(range(256)) * 16), role=role)
    table_case("non_numeric", bad, "a value is text", variant(source, bad, cell(5, "abc")), role=role)
    table_case("duplicate_genes", bad, "a gene appears twice",
               variant(source, bad, lambda t: t + lines(t)[1] + "\n"), role=role)
    table_case("all_nan", bad, "no value at all", variant(source, bad, every_value("NaN")), role=role)
    table_case("inf", bad, "an infinite value", variant(source, bad, cell(3, "inf")), role=role)
    table_case("unreadable", bad, "chmod 000", steps(variant(source, bad, lambda t: t), chmod(bad, 0)), role=role)
    table_case("gene_column_missing", bad, "only numbers: no gene column",
               variant(source, bad, lambda t: "\n".join(r.split(",", 1)[1] for r in lines(t)) + "\n"), role=role)
table_case("directory", "tables/", "a directory", mkdir("tables"), culprit="tables")
table_case("missing", "nowhere/assay.csv", "the file does not exist", culprit="nowhere/assay.csv")
table_case("spreadsheet", "bad.xlsx", "a spreadsheet, not a table", write("bad.xlsx", b"PK\x03\x04 not really"))
table_case("json", "./bad.json", "JSON is not a table format", variant("assay.csv", "bad.json", lambda t: json.dumps(
    [dict(zip(("gene", "value"), r.split(","))) for r in lines(t)[1:]])), culprit="bad.json")
table_case("gzip_name_plain_text", "bad.csv.gz", "named .gz but not gzip",
           variant("assay.csv", "bad.csv.gz", lambda t: t))
table_case("parquet_name_csv_text", "bad.parquet", "named .parquet but CSV text",
           variant("assay.csv", "bad.parquet", lambda t: t))
table_case("latin1_gene", "bad.csv", "a gene name in Latin-1, not UTF-8",
           variant("assay.csv", "bad.csv", lambda t: t.encode() + "CAF\xc9,0.5\n".encode("latin-1")))
table_case("no_overlap", "bad.csv", "no gene in common with the descriptor",
           variant("assay.csv", "bad.csv", lambda t: "gene,value\n" + "".join(
               f"NOTAGENE{i},{i / 100}\n" for i in range(600))))
table_case("disjoint_genes", "bad.csv", "real genes, none of them in the descriptor",
           variant("il2.csv", "bad.csv", lambda t: "\n".join(lines(t)[:1] + lines(t)[601:1201]) + "\n"))
table_case("two_value_columns", "bad.csv", "which column is the value?",
           variant("assay.csv", "bad.csv", lambda t: "\n".join(r + ",1" for r in lines(t)) + "\n"))
table_case("column_missing", "assay.csv", "there is no column 'lfc'", extra=("--param", "assay.column=lfc"),
           culprit="lfc")
table_case("too_few_genes", "bad.csv", "30 genes cannot feed 3 cycles of 10", variant("assay.csv", "bad.csv",
                                                                                      first_rows(30)))
table_case("bom", "bom.csv", "a UTF-8 BOM (Excel) must be read as the plain file or refused",
           variant("assay.csv", "bom.csv", lambda t: "\ufeff" + t), expect="tolerate", check=run_of_600_genes)
table_case("tsv_named_csv", "tabs.csv", "tab-separated text named .csv must be read right or refused",
           variant("descriptor.csv", "tabs.csv", lambda t: t.replace(",", "\t")), role="descriptor",
           expect="tolerate", check=run_of_600_genes)
table_case("semicolons", "bad.csv", "fields split by ';' (a spreadsheet's export in some languages)",
           variant("descriptor.csv", "bad.csv", lambda t: t.replace(",", ";")), role="descriptor")
table_case("second_gene_column", "bad.csv", "numeric gene ids beside the symbols would be read as a feature",
           variant("descriptor.csv", "bad.csv", lambda t: "\n".join(
               r.replace(",", ",gene_id," if i == 0 else f",{i},", 1) for i, r in enumerate(lines(t))) + "\n"),
           role="descriptor")
table_case("harmonise_not_a_switch", "descriptor.csv", "harmonise_genes takes true or false, not 'no'",
           extra=("--param", "descriptor.harmonise_genes=no"), role="descriptor", culprit="harmonise_genes")
table_case("only_gene_column", "bad.csv", "a descriptor needs feature columns",
           variant("descriptor.csv", "bad.csv", lambda t: "\n".join(r.split(",")[0] for r in lines(t)) + "\n"),
           role="descriptor")

# ------------------------------------------------------------------------------------------- gd sweep

for how, extra, culprit in [
        ("executor_unknown", ("--executor", "bogus"), "--executor"), ("jobs_zero", ("--jobs", "0"), "--jobs"),
        ("jobs_negative", ("--jobs", "-1"), "--jobs"), ("jobs_text", ("--jobs", "abc"), "--jobs"),
        ("seeds_zero", ("--seeds", "0"), "--seeds"), ("seeds_negative", ("--seeds", "-2"), "--seeds"),
        ("batch_size_zero", ("--batch-size", "0"), "--batch-size"), ("cycles_zero", ("--cycles", "0"), "--cycles"),
        ("split_seed_negative", ("--split-seed", "-1"), "--split-seed"),
        ("test_fraction_zero", ("--test-fraction", "0"), "--test-fraction"),
        ("protocol_typo", ("--protocol", "biodiscovery"), "biodiscovery"),
        ("protocol_test_fraction", ("--protocol", "discobax", "--test-fraction", "0.2"), "--test-fraction"),
        ("hit_fraction_two", ("--hit-fraction", "2"), "--hit-fraction"),
        ("model_typo", ("--model", "random_forrest"), "random_forrest"),
        ("metric_typo", ("--metric", "msee"), "msee"),
        ("param_target_unknown", ("--param", "bogus.x=1"), "bogus"),
        ("param_by_name_bad_value", ("--param", "softuncertain.temperature=-1", "--acquisition", "softuncertain"),
         "temperature"),
        ("only_incompatible", ("--acquisition", "badge"), "badge"),
        ("scheduler_without_dask", ("--scheduler", "tcp://127.0.0.1:8786"), "--scheduler")]:
    argv = tiny_sweep(*extra) if how != "only_incompatible" else tiny_sweep(acquisitions=("badge",))
    case(f"sweep.{how}", argv, f"{' '.join(extra)} cannot run", culprit=culprit)
case("sweep.out.file", tiny_sweep(out="afile"), "--out is a file", setup=write("afile", "x\n"), culprit="afile")
case("sweep.out.foreign_dir", tiny_sweep(out="notes"), "--out holds someone's files",
     setup=write("notes/todo.txt", "keep me\n"), culprit="notes")
case("sweep.out.missing", tiny_sweep()[:-2], "--out is required", culprit="--out")
case("sweep.out.read_only", tiny_sweep(out="ro/sweep"), "cannot write under a read-only directory",
     setup=mkdir("ro", 0o555), culprit="ro")
case("sweep.plugin.missing", tiny_sweep("--plugin", "missing.py"), "the plugin file does not exist",
     culprit="missing.py")

SCHEDULER = ("--executor", "dask", "--scheduler")
for how, value, setup in [
        ("file_missing", "sched.json", None), ("file_not_json", "sched.json", write("sched.json", "not json\n")),
        ("file_without_address", "sched.json", write("sched.json", '{"id": "x"}\n')),
        ("directory", "schedir/", mkdir("schedir")), ("unreachable", "tcp://127.0.0.1:1", None),
        ("scheme_only", "tcp://", None), ("garbage", "::::", None)]:
    case(f"scheduler.{how}", tiny_sweep(*SCHEDULER, value), f"--scheduler {value!r} is no Dask scheduler",
         setup=setup, culprit="--scheduler")

TINY_SPEC = {"assays": '["simulated"]', "descriptors": '["simulated"]', "models": '["random_forest"]',
             "acquisitions": '["random"]', "batch_sizes": "[10]", "seeds": "1", "cycles": "3"}
TINY_PARAMS = ("[params.descriptor]\nn_genes = 600\nn_features = 8\n\n[params.assay]\nn_genes = 600\n\n"
               "[params.model]\nn_estimators = 10\n")


def spec_text(key: str | None = None, value: str | None = None, params: str = TINY_PARAMS) -> str:
    """The tiny spec as TOML, with ``key = value`` (raw TOML) replacing or adding one top-level key."""
    keys = {**TINY_SPEC, **({key: value} if key else {})}
    return "".join(f"{k} = {v}\n" for k, v in keys.items()) + "\n" + params


def spec_case(name: str, text: str | bytes | None, why: str, *, file: str = "spec.toml", culprit: str | None = None,
              setup: Setup | None = None) -> None:
    """A gd sweep of spec file ``file`` holding ``text`` (None: not written)."""
    setup = setup or (write(file, text) if text is not None else None)
    case(f"spec.{name}", ("sweep", file, "--out", "sweep", "--jobs", "1"), why, setup=setup, culprit=culprit)


for key, value, how in [
        ("hit_fraction", "true", "bool"), ("test_fraction", '"0.2"', "text"), ("seeds", "0", "zero"),
        ("seeds", '"5"', "text"), ("seeds", "true", "bool"), ("batch_sizes", "[]", "empty"),
        ("batch_sizes", "[0]", "zero"), ("batch_sizes", '["64"]', "text"), ("batch_sizes", "[true]", "bool"),
        ("cycles", "0", "zero"), ("cycles", '"many"', "text"), ("cycles", "true", "bool"),
        ("cycles", "2.5", "fraction"), ("models", '["random_forrest"]', "typo"), ("acquisitions", "[]", "empty"),
        ("assays", "3", "number"), ("metrics", '["msee"]', "typo"), ("split_seed", "true", "bool"),
        ("test_fraction", "1.5", "above_one"), ("hit_fraction", "nan", "nan"), ("acquisiton", '["random"]', "unknown")]:
    spec_case(f"{key}.{how}", spec_text(key, value), f"{key} = {value} is not a valid value",
              culprit=key if how != "typo" else value.strip('["]'))
spec_case("params.number", spec_text("params", "3", params=""), "params must be tables", culprit="params")
spec_case("params.kind_number", spec_text(params="[params]\nmodel = 5\n"), "params.model must be a table",
          culprit="model")
spec_case("params.value_text", spec_text(params=TINY_PARAMS.replace("n_estimators = 10", 'n_estimators = "abc"')),
          "n_estimators must be a whole number", culprit="n_estimators")
spec_case("params.unknown_target", spec_text(params=TINY_PARAMS + "\n[params.nonexistent]\nx = 1\n"),
          "no component 'nonexistent'", culprit="nonexistent")
spec_case("toml_syntax", 'assays = ["simulated"\nseeds = 1\n', "not valid TOML", culprit="spec.toml")
spec_case("json_content", json.dumps({"assays": ["simulated"]}), "JSON is not TOML", culprit="spec.toml")
spec_case("binary", bytes(range(256)), "random bytes", culprit="spec.toml")
spec_case("missing", None, "the spec file does not exist", culprit="spec.toml")
spec_case("directory", None, "a directory is not a spec file", file="specdir", setup=mkdir("specdir"),
          culprit="specdir")

# ------------------------------------------------------------------------------------- gd report, gd plot

SWEEP = fixture("sweep", "sweep")
for how, argv, setup, culprit in [
        ("missing_dir", ("report", "nowhere"), None, "nowhere"),
        ("file", ("report", "afile"), write("afile", "x\n"), "afile"),
        ("empty_dir", ("report", "empty"), mkdir("empty"), "empty"),
        ("run_not_sweep", ("report", "run"), fixture("run", "run"), "run"),
        ("format_unknown", ("report", "sweep", "--format", "xml"), SWEEP, "--format"),
        ("format_empty", ("report", "sweep", "--format", ""), SWEEP, "--format"),
        ("what_unknown", ("report", "sweep", "--format", "csv", "--what", "foo"), SWEEP, "--what"),
        ("what_empty", ("report", "sweep", "--format", "csv", "--what", ""), SWEEP, "--what"),
        ("what_without_csv", ("report", "sweep", "--what", "summary"), SWEEP, "--what"),
        ("json_with_csv", ("report", "sweep", "--json", "--format", "csv"), SWEEP, "--json"),
        ("metric_typo", ("report", "sweep", "--metric", "msee"), SWEEP, "msee"),
        ("metric_empty", ("report", "sweep", "--metric", ""), SWEEP, "--metric")]:
    case(f"report.{how}", argv, "cannot be reported", setup=setup, culprit=culprit)
# A damaged run is skipped and listed while the rest is reported (exit 0), or the command refuses in one line;
# so is a damaged sweep.json (the report may fall back to the runs/ directory, saying so). Readers: r = report,
# j = report --json, p = plot.
DAMAGES = [
    ("metrics_text", "metrics.csv", replace_text("\n0,", "\nzero,"), "rjp"),
    ("metrics_value_text", "metrics.csv", replace_text(",mse,", ",mse,lots"), "r"),
    ("metrics_truncated", "metrics.csv", truncate_half, "rp"),
    ("metrics_empty", "metrics.csv", set_text(""), "r"),
    ("metrics_columns_missing", "metrics.csv", set_text("cycle,value\n0,1\n"), "r"),
    ("metrics_unreadable", "metrics.csv", unreadable, "r"),
    ("config_not_json", "config.json", set_text("{not json"), "rj"),
    ("config_list", "config.json", set_text("[1, 2]"), "rp"),
    ("run_is_file", "config.json", turn_into_file, "rj"),
    ("failure_garbage", "failure.json", garbage_failure, "rp"),
    ("sweep_json_not_json", "/sweep.json", set_text("{not json"), "rjp"),
    ("sweep_json_list", "/sweep.json", set_text("[]"), "r"),
    ("sweep_json_no_runs", "/sweep.json", set_text('{"format": "gd-sweep/1"}'), "r"),
    ("sweep_json_runs_list", "/sweep.json", set_text('{"format": "gd-sweep/1", "runs": [1, 2]}'), "rp"),
    ("sweep_json_run_without_assay", "/sweep.json", edit_json(sweep_json_without_assay), "r"),
    ("sweep_json_future_format", "/sweep.json", replace_text("gd-sweep/1", "gd-sweep/9"), "r"),
]
READERS = {"r": ("report.damaged", ("report", "sweep")), "j": ("report.damaged_json", ("report", "sweep", "--json")),
           "p": ("plot.damaged", ("plot", "sweep", "-o", "curves.png"))}
for how, relative, change, readers in DAMAGES:
    for reader in readers:
        prefix, argv = READERS[reader]
        case(f"{prefix}.{how}", argv, f"{relative.lstrip('/')} damaged: report the rest and list it, or refuse "
             "in one line", expect="tolerate", setup=damaged_sweep(relative, change),
             check=mentions_sweep_json if relative == "/sweep.json" else mentions_first_run)
for how, argv, setup, culprit in [
        ("missing_dir", ("plot", "nowhere", "-o", "c.png"), None, "nowhere"),
        ("not_sweep", ("plot", "run", "-o", "c.png"), fixture("run", "run"), "run"),
        ("extension", ("plot", "sweep", "-o", "curves.jpgx"), SWEEP, "curves.jpgx"),
        ("no_extension", ("plot", "sweep", "-o", "curves"), SWEEP, "curves"),
        ("output_is_dir", ("plot", "sweep", "-o", "c.png"), steps(SWEEP, mkdir("c.png")), "c.png"),
        ("read_only_dir", ("plot", "sweep", "-o", "ro/c.png"), steps(SWEEP, mkdir("ro", 0o555)), "ro"),
        ("output_under_file", ("plot", "sweep", "-o", "afile/c.png"), steps(SWEEP, write("afile", "x")), "afile"),
        ("output_empty", ("plot", "sweep", "-o", ""), SWEEP, "-o"),
        ("output_missing", ("plot", "sweep"), SWEEP, "--output"),
        ("metric_typo", ("plot", "sweep", "-o", "c.png", "--metric", "msee"), SWEEP, "msee"),
        ("metric_empty", ("plot", "sweep", "-o", "c.png", "--metric", ""), SWEEP, "--metric")]:
    case(f"plot.{how}", argv, "cannot be plotted there", setup=setup, culprit=culprit)
case("plot.parent_missing", ("plot", "sweep", "-o", "nowhere/c.png"), "the output's directory does not exist: "
     "make it, or refuse in one line", setup=SWEEP, expect="tolerate", check=plot_written, culprit="nowhere")

# ------------------------------------------------------------------------------------------------ gd data

ANYFILE = write("anyfile.csv", "gene,x\nA1BG,1\n")
for how, argv, setup, culprit in [
        ("info.typo_other_kind", ("data", "info", "gene_ontologie"), None, "gene_ontology"),
        ("info.typo", ("data", "info", "schmidt_2021_il3"), None, "schmidt_2021_il3"),
        ("info.kind_unknown", ("data", "info", "gene_ontology", "--kind", "bogus"), None, "--kind"),
        ("info.ambiguous", ("data", "info", "simulated"), None, "--kind"),
        ("fetch.typo", ("data", "fetch", "achiles"), None, "achilles"),
        ("fetch.offline", ("data", "fetch", "achilles"), None, "achilles"),
        ("import.wrong_file", ("data", "import", "achilles", "anyfile.csv"), ANYFILE, "anyfile.csv"),
        ("import.missing", ("data", "import", "achilles", "missing.csv"), None, "missing.csv"),
        ("import.directory", ("data", "import", "achilles", "adir"), mkdir("adir"), "adir"),
        ("import.shifrut_wrong_file", ("data", "import", "shifrut_2018", "anyfile.csv"), ANYFILE, "anyfile.csv"),
        ("import.bundled", ("data", "import", "gene_ontology", "anyfile.csv"), ANYFILE, "gene_ontology"),
        ("import.typo", ("data", "import", "achiles", "anyfile.csv"), ANYFILE, "achilles"),
        ("import.no_file", ("data", "import", "achilles"), None, "FILES"),
        ("export.typo", ("data", "export", "gene_ontologie", "x.csv"), None, "gene_ontology"),
        ("export.ambiguous", ("data", "export", "simulated", "x.csv"), None, "--kind"),
        ("export.extension", ("data", "export", "schmidt_2021_il2", "x.xlsx"), None, "x.xlsx"),
        ("export.read_only_dir", ("data", "export", "schmidt_2021_il2", "ro/x.csv"), mkdir("ro", 0o555), "ro"),
        ("export.onto_directory", ("data", "export", "schmidt_2021_il2", "x.csv"), mkdir("x.csv"), "x.csv"),
        ("export.under_file", ("data", "export", "schmidt_2021_il2", "afile/x.csv"), write("afile", "x"), "afile"),
        ("export.param_text", ("data", "export", "simulated", "x.csv", "--kind", "assay", "--param", "n_genes=abc"),
         None, "n_genes"),
        ("export.param_negative", ("data", "export", "simulated", "x.csv", "--kind", "assay",
                                   "--param", "n_genes=-1"), None, "n_genes"),
        ("export.param_unknown", ("data", "export", "simulated", "x.csv", "--kind", "assay", "--param", "bogus=1"),
         None, "bogus"),
        ("export.param_malformed", ("data", "export", "simulated", "x.csv", "--kind", "assay", "--param", "n_genes"),
         None, "--param"),
        ("command_typo", ("data", "lsit"), None, "lsit")]:
    case(f"data.{how}", argv, "cannot be done", setup=setup, culprit=culprit)
DATA_DIR_FILE = {"GD_DATA_DIR": "{work}/cachefile"}
DATA_DIR_UNDER_FILE = {"GD_DATA_DIR": "{work}/cachefile/sub"}
DATA_DIR_READ_ONLY = {"GD_DATA_DIR": "{work}/rocache"}
for how, argv, env, setup, expect in [
        ("file.list", ("data", "list"), DATA_DIR_FILE, write("cachefile", "x"), "tolerate"),
        ("file.fetch", ("data", "fetch", "achilles"), DATA_DIR_FILE, write("cachefile", "x"), "refuse"),
        ("file.import", ("data", "import", "achilles", "anyfile.csv"), DATA_DIR_FILE,
         steps(write("cachefile", "x"), ANYFILE), "refuse"),
        ("file.run_processed", tiny_run(data=GO_DATA), DATA_DIR_FILE, write("cachefile", "x"), "refuse"),
        ("under_file.run_processed", tiny_run(data=GO_DATA), DATA_DIR_UNDER_FILE, write("cachefile", "x"),
         "refuse"),
        ("read_only.run_processed", tiny_run(data=GO_DATA), DATA_DIR_READ_ONLY, mkdir("rocache", 0o555),
         "tolerate"),
        ("read_only.import", ("data", "import", "achilles", "anyfile.csv"), DATA_DIR_READ_ONLY,
         steps(mkdir("rocache", 0o555), ANYFILE), "refuse")]:
    case(f"data.gd_data_dir.{how}", argv, "GD_DATA_DIR cannot hold the cache", env=env, setup=setup, expect=expect,
         culprit="GD_DATA_DIR", check=same_metrics_as_cached_run if argv[0] == "run" else None)

# ------------------------------------------------------------------------------------- gd campaign, gd propose

CAMPAIGN = fixture("campaign", "camp")  # round 0 measured, round 1 proposed and pending
RESULTS = fixture("campaign", "results-0.csv")
TABLES = steps(fixture("tables", "descriptor.csv"), fixture("tables", "assay.csv"))
INIT = ("campaign", "init", "new", "--descriptor", "descriptor.csv", "--model", "random_forest", "--acquisition",
        "random", "--batch-size", "8")


def campaign_file(relative: str, change: Callable[[Path], None]) -> Setup:
    """The campaign fixture with ``change`` applied to its file ``relative``."""
    return steps(CAMPAIGN, lambda box: change(box.path("camp") / relative))


def _conflicting(box: Sandbox) -> str:
    """Round 0's results with every value changed: measured again with other values."""
    lines = box.fixtures.path("campaign", "results-0.csv").read_text().splitlines()
    return "\n".join([lines[0], *(f"{line.split(',')[0]},9.5" for line in lines[1:])]) + "\n"


for how, argv, setup, culprit in [
        ("init.exists", (*INIT[:2], "camp", *INIT[3:]), steps(TABLES, CAMPAIGN), "camp"),
        ("init.not_empty", INIT, steps(TABLES, write("new/notes.txt", "x")), "new"),
        ("init.batch_zero", (*INIT[:-1], "0"), TABLES, "--batch-size"),
        ("init.batch_text", (*INIT[:-1], "eight"), TABLES, "--batch-size"),
        ("init.model_typo", (*INIT[:6], "random_forrest", *INIT[7:]), TABLES, "random_forrest"),
        ("init.incompatible", (*INIT[:8], "badge", *INIT[9:]), TABLES, "badge"),
        ("init.param_unknown", (*INIT, "--param", "model.trees=3"), TABLES, "trees"),
        ("init.only_missing", (*INIT, "--only", "library.txt"), TABLES, "library.txt"),
        ("init.exclude_directory", (*INIT, "--exclude", "adir"), steps(TABLES, mkdir("adir")), "adir"),
        ("init.descriptor_missing", (*INIT[:3], "--descriptor", "nope.csv", *INIT[5:]), None, "nope.csv"),
        ("add.missing", ("campaign", "add", "camp", "missing.csv"), CAMPAIGN, "missing.csv"),
        ("add.not_utf8", ("campaign", "add", "camp", "bin.csv"), steps(CAMPAIGN, write("bin.csv", b"\xff\xfe\x00")),
         "bin.csv"),
        ("add.no_values", ("campaign", "add", "camp", "genes.csv"),
         steps(CAMPAIGN, write("genes.csv", "gene\nA1BG\n")), "genes.csv"),
        ("add.text_values", ("campaign", "add", "camp", "text.csv"),
         steps(CAMPAIGN, write("text.csv", "gene,value\nA1BG,high\n")), "text.csv"),
        ("add.empty", ("campaign", "add", "camp", "empty.csv"), steps(CAMPAIGN, write("empty.csv", "")), "empty.csv"),
        ("add.round_negative", ("campaign", "add", "camp", "results-0.csv", "--round", "-1"),
         steps(CAMPAIGN, RESULTS), "--round"),
        ("add.conflict", ("campaign", "add", "camp", "changed.csv"),
         steps(CAMPAIGN, lambda box: box.write("changed.csv", _conflicting(box))),
         "--replace"),
        ("add.not_a_campaign", ("campaign", "add", "adir", "results-0.csv"), steps(mkdir("adir"), RESULTS), "adir"),
        ("propose.not_a_campaign", ("campaign", "propose", "adir"), mkdir("adir"), "adir"),
        ("propose.missing", ("campaign", "propose", "nowhere"), None, "nowhere"),
        ("propose.batch_huge", ("campaign", "propose", "camp", "--force", "--batch-size", "100000"), CAMPAIGN,
         "--batch-size"),
        ("propose.round_exists", ("campaign", "propose", "camp"), CAMPAIGN, "--force"),
        ("propose.toml_damaged", ("campaign", "propose", "camp", "--force"),
         campaign_file("campaign.toml", set_text("model = [unclosed\n")), "campaign.toml"),
        ("propose.toml_model_typo", ("campaign", "propose", "camp", "--force"),
         campaign_file("campaign.toml", replace_text('"random_forest"', '"random_forrest"')), "random_forrest"),
        ("propose.measurements_damaged", ("campaign", "propose", "camp", "--force"),
         campaign_file("measurements.csv", set_text("\x00garbage")), "measurements.csv"),
        ("propose.exclude_missing", ("campaign", "propose", "camp", "--force", "--exclude", "skip.txt"), CAMPAIGN,
         "skip.txt"),
        ("status.threshold_negative", ("campaign", "status", "camp", "--hit-threshold", "-1"), CAMPAIGN,
         "--hit-threshold"),
        ("status.plot_extension", ("campaign", "status", "camp", "--plot", "status.xlsx"), CAMPAIGN, "status.xlsx"),
        ("one_shot.measured_missing", ("propose", "--measured", "missing.csv", "--descriptor", "descriptor.csv",
                                       "--model", "random_forest", "--acquisition", "random", "--batch-size", "8",
                                       "--out", "plate.csv"), TABLES, "missing.csv"),
        ("one_shot.out_directory", ("propose", "--measured", "results-0.csv", "--descriptor", "descriptor.csv",
                                    "--model", "random_forest", "--acquisition", "random", "--batch-size", "8",
                                    "--out", "adir"), steps(TABLES, RESULTS, mkdir("adir")), "adir")]:
    case(f"campaign.{how}", argv, "cannot be done as asked", setup=setup, culprit=culprit)


# ------------------------------------------------------------------------------------------------ gd list

for how, argv, culprit in [("kind_unknown", ("list", "bogus"), "bogus"), ("kind_typo", ("list", "modle"), "model"),
                           ("name_typo", ("list", "model", "random_forrest"), "random_forrest"),
                           ("kind_empty", ("list", ""), "list"),
                           ("too_many", ("list", "acquisition", "softuncertain", "extra"), "extra"),
                           ("json_kind_unknown", ("list", "--json", "bogus"), "bogus"),
                           ("plugins_extra", ("list-plugins", "extra"), "extra")]:
    case(f"list.{how}", argv, "no such kind or component", culprit=culprit)
