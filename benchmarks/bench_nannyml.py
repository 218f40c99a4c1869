"""NannyML as a yardstick (benchmarks/results.md, "Monitoring: NannyML as a yardstick").

The same batches go through this project's CBPE and domain classifier and through NannyML's CBPE,
domain classifier and PCA reconstruction error (NannyML 0.13.1 in benchmarks/.venv-nannyml, which
this script creates on first run from benchmarks/requirements-nannyml.txt). Both CBPEs calibrate
the same model's raw probabilities on the same test split and see the batch without labels; the
labels, kept aside, give the realized accuracy.

Data:
- generated: the distribution of bench_false_alarms.py (a multivariate normal with the means and
  covariance of the built-in breast-cancer features, labels from a logistic model of them), so a
  covariate shift keeps P(label | features): none; covariate (10 of 30 features moved 0.5 std);
  strong covariate (10 of 30 moved 1.5 std); shuffled (each of half the columns shuffled on its own:
  every column keeps its distribution, their joint one breaks).
- built-in: the breast-cancer rows themselves (the project's default data): the model trains on
  half, calibrates on a quarter (its test split), batches are drawn with replacement from the last
  quarter, uniformly (none) or with weights exp(z of `worst radius`) (covariate).

    python benchmarks/bench_nannyml.py [--batches 20] [--sizes 300,1000,5000] [--multivariate-batches 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import load_line, machine_info, write_section  # noqa: E402
from benchmarks.venvs import python_of  # noqa: E402

VENV = ROOT / "benchmarks" / ".venv-nannyml"
REQUIREMENTS = ROOT / "benchmarks" / "requirements-nannyml.txt"
SECTION = "Monitoring: NannyML as a yardstick"
GENERATED = ("none", "covariate", "strong covariate", "shuffled")
BUILTIN = ("none", "covariate")


# --- the NannyML side (runs in its venv) ----------------------------------------------------------

def worker(folder: str) -> None:
    """Reads the files `main` wrote, runs NannyML on every batch, prints one JSON line per batch."""
    import warnings

    warnings.filterwarnings("ignore")
    import logging

    logging.disable(logging.WARNING)
    import nannyml as nml
    import pandas as pd

    base = Path(folder)
    spec = json.loads((base / "spec.json").read_text())
    features = spec["features"]
    out, fitted = [], {}
    for setting in spec["settings"]:
        calib = pd.read_parquet(base / f"{setting}-calibration.parquet")
        pool = pd.read_parquet(base / f"{setting}-pool.parquet")
        batches = pd.read_parquet(base / f"{setting}-batches.parquet")
        for (size, scenario, i), batch in batches.groupby(["size", "scenario", "i"], sort=False):
            batch = batch.drop(columns=["size", "scenario", "i"]).reset_index(drop=True)
            row = {"setting": setting, "size": int(size), "scenario": scenario, "i": int(i)}
            if (setting, size) not in fitted:  # chunk_size is the batch's: one chunk per batch
                cbpe = nml.CBPE(y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="y_true",
                                problem_type="classification_binary", metrics=["accuracy", "f1", "roc_auc"],
                                chunk_size=len(batch))
                pca = nml.DataReconstructionDriftCalculator(column_names=features, chunk_size=len(batch))
                fitted[(setting, size)] = (cbpe.fit(calib), pca.fit(pool) if setting == "generated" else None)
            cbpe, pca = fitted[(setting, size)]
            start = time.perf_counter()
            result = cbpe.estimate(batch.drop(columns=["y_true"])).filter(period="analysis").to_df()
            row["cbpe_seconds"] = time.perf_counter() - start
            for metric in ("accuracy", "f1", "roc_auc"):
                row[metric] = float(result[(metric, "value")].iloc[0])
            if i < spec["multivariate_batches"] and setting == "generated":
                reference = pool.head(len(batch))  # balanced sides, as this project's classifier uses
                dc = nml.DomainClassifierCalculator(feature_column_names=features, chunk_size=len(batch))
                dc.fit(reference)
                start = time.perf_counter()
                found = dc.calculate(batch).filter(period="analysis").to_df()
                row["dc_seconds"] = time.perf_counter() - start
                row["dc_auc"] = float(found[("domain_classifier_auroc", "value")].iloc[0])
                row["dc_alert"] = bool(found[("domain_classifier_auroc", "alert")].iloc[0])
                start = time.perf_counter()
                found = pca.calculate(batch).filter(period="analysis").to_df()
                row["pca_seconds"] = time.perf_counter() - start
                row["pca_error"] = float(found[("reconstruction_error", "value")].iloc[0])
                row["pca_alert"] = bool(found[("reconstruction_error", "alert")].iloc[0])
            out.append(row)
    print(json.dumps({"rows": out, "nannyml": nml.__version__, "pandas": pd.__version__}))


# --- this project's side --------------------------------------------------------------------------

def generated_batch(n: int, rng, dist, scenario: str):
    from benchmarks.bench_false_alarms import draw

    import numpy as np

    if scenario == "none":
        return draw(n, rng, dist)
    if scenario == "covariate":
        return draw(n, rng, dist, "shifted")
    mean, cov, std, w, b, names = dist
    x = rng.multivariate_normal(mean, cov, size=n, method="cholesky")
    if scenario == "strong covariate":
        x[:, ::3] = x[:, ::3] + 1.5 * std[::3]
    else:  # shuffled: each of half the columns permuted on its own
        for k in range(0, x.shape[1], 2):
            x[:, k] = rng.permutation(x[:, k])
    p = 1 / (1 + np.exp(-(((x - mean) / std) @ w + b)))
    import pandas as pd

    frame = pd.DataFrame(x, columns=names)
    frame["target"] = (rng.random(n) < p).astype("int64")
    return frame


def builtin_data(seed: int):
    """(train, calibration, holdout) of the breast-cancer rows, stratified halves and quarters."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    frame = pd.DataFrame(data.data, columns=[n.replace(" ", "_") for n in data.feature_names])
    frame["target"] = data.target
    train, rest = train_test_split(frame, test_size=0.5, stratify=frame["target"], random_state=seed)
    calib, holdout = train_test_split(rest, test_size=0.5, stratify=rest["target"], random_state=seed)
    return train, calib, holdout.reset_index(drop=True)


def builtin_batch(n: int, rng, holdout, scenario: str):
    import numpy as np

    weights = None
    if scenario == "covariate":
        z = (holdout["worst_radius"] - holdout["worst_radius"].mean()) / holdout["worst_radius"].std()
        weights = np.exp(z.to_numpy())
        weights /= weights.sum()
    return holdout.iloc[rng.choice(len(holdout), size=n, replace=True, p=weights)].reset_index(drop=True)


def ours(model, calibration, reference, batch, features, params, seed: int, multivariate: bool) -> dict:
    from ctml.drift import estimate
    from ctml.drift import multivariate as mv

    proba = model.predict_proba(batch[features])
    start = time.perf_counter()
    found = estimate.estimates(estimate.tally(proba, calibration), calibration, params.drift.estimation.band_sigmas)
    row = {"ours_cbpe_seconds": time.perf_counter() - start, "ours_accuracy": found["estimated_accuracy"],
           "ours_f1": found["estimated_f1"], "ours_roc_auc": found["estimated_roc_auc"],
           "realized": float((proba.argmax(1) == batch["target"].to_numpy()).mean())}
    if multivariate:
        start = time.perf_counter()
        multi = mv.domain_classifier(reference.sample, batch[features], reference.kinds, params.drift.multivariate, seed)
        row.update(ours_dc_seconds=time.perf_counter() - start, ours_dc_auc=multi["score"], ours_dc_drifted=multi["drifted"])
    return row


def for_nannyml(model, frame, features):
    """Features, raw probability of class 1, predicted class and the labels, in NannyML's column names."""
    proba = model.predict_proba(frame[features])
    out = frame[features].copy()
    out["y_pred_proba"], out["y_pred"], out["y_true"] = proba[:, 1], proba.argmax(1), frame["target"].to_numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="300,1000,5000")
    parser.add_argument("--batches", type=int, default=20, help="batches per scenario and size")
    parser.add_argument("--multivariate-batches", type=int, default=3,
                        help="of those, how many also go through both domain classifiers (NannyML's costs seconds)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    import numpy as np
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from benchmarks.bench_false_alarms import distribution, draw
    from ctml.config import load_params
    from ctml.drift import estimate
    from ctml.drift.reference import build
    from ctml.model.estimator import build_estimator

    python = python_of(VENV, REQUIREMENTS)
    params = load_params(ROOT / "params.yaml")
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(params.seed)
    dist = distribution(params.seed)
    folder = Path(tempfile.mkdtemp(prefix="bench-nannyml-"))
    settings = {}
    gen_train, gen_calib, gen_pool = draw(5000, rng, dist), draw(2000, rng, dist), draw(20_000, rng, dist)
    bi_train, bi_calib, holdout = builtin_data(params.seed)
    settings["generated"] = (gen_train, gen_calib, gen_pool, GENERATED, sizes)
    settings["built-in"] = (bi_train, bi_calib, holdout, BUILTIN, [s for s in sizes if s <= 1000])
    features = [c for c in gen_train.columns if c != "target"]
    mine: dict[tuple, dict] = {}
    for setting, (train, calib, pool, scenarios, setting_sizes) in settings.items():
        model = make_pipeline(StandardScaler(), build_estimator(params.train, "classification", params.seed))
        model.fit(train[features], train["target"])
        calibration = estimate.fit_calibration(model, model.predict_proba(calib[features]), calib["target"], setting,
                                               params.evaluate.calibration, params.seed)
        reference = build(pool, "target", params.drift.multivariate.max_rows, params.seed)
        for_nannyml(model, calib, features).to_parquet(folder / f"{setting}-calibration.parquet")
        for_nannyml(model, pool, features).to_parquet(folder / f"{setting}-pool.parquet")
        frames = []
        for n in setting_sizes:
            for scenario in scenarios:
                for i in range(args.batches):
                    batch_rng = np.random.default_rng([params.seed, n, scenarios.index(scenario), i])
                    batch = (generated_batch(n, batch_rng, dist, scenario) if setting == "generated"
                             else builtin_batch(n, batch_rng, pool, scenario))
                    multi = setting == "generated" and i < args.multivariate_batches
                    mine[(setting, n, scenario, i)] = ours(model, calibration, reference, batch, features, params,
                                                           params.seed + i, multi)
                    frames.append(for_nannyml(model, batch, features).assign(size=n, scenario=scenario, i=i))
            print(setting, n, flush=True)
        pd.concat(frames, ignore_index=True).to_parquet(folder / f"{setting}-batches.parquet")
    (folder / "spec.json").write_text(json.dumps({"features": features, "settings": list(settings),
                                                  "multivariate_batches": args.multivariate_batches}))
    proc = subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", str(folder)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONWARNINGS": "ignore", "NML_DISABLE_USAGE_LOGGING": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"NannyML worker failed:\n{proc.stderr[-3000:]}")
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = [{**r, **mine[(r["setting"], r["size"], r["scenario"], r["i"])]} for r in theirs["rows"]]
    (folder / "rows.json").write_text(json.dumps(rows))
    body = report(rows, settings, theirs, args)
    print(body)
    print(f"(every batch's figures: {folder / 'rows.json'})")
    if not args.no_write:
        write_section(SECTION, body)


def report(rows: list[dict], settings: dict, theirs: dict, args) -> str:
    import numpy as np

    def mean_abs(cell, a, b):
        pairs = [(r[a], r[b]) for r in cell if r.get(a) is not None and r.get(b) is not None]
        return float(np.mean([abs(x - y) for x, y in pairs])) if pairs else float("nan")

    lines = [machine_info(), f"Load average at the end: {load_line()}.", "",
             f"`python benchmarks/bench_nannyml.py --sizes {args.sizes} --batches {args.batches} --multivariate-batches "
             f"{args.multivariate_batches}`; NannyML {theirs['nannyml']} (pandas {theirs['pandas']}) in benchmarks/.venv-nannyml. "
             "Both CBPEs calibrate the same random forest (params.yaml's) on the same test split and see each batch "
             "without its labels; 'realized' is the accuracy on the labels kept aside. Mean absolute differences over "
             "the batches of a cell.", "",
             "| data | scenario | rows | batches | realized accuracy | ours - realized | NannyML - realized | ours - NannyML: "
             "accuracy | F1 | ROC AUC |", "|---|---|---|---|---|---|---|---|---|---|"]
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault((r["setting"], r["scenario"], r["size"]), []).append(r)
    for (setting, scenario, n), cell in cells.items():
        if scenario == "shuffled":
            continue
        lines.append(f"| {setting} | {scenario} | {n:,} | {len(cell)} | {np.mean([r['realized'] for r in cell]):.3f} | "
                     f"{mean_abs(cell, 'ours_accuracy', 'realized'):.4f} | {mean_abs(cell, 'accuracy', 'realized'):.4f} | "
                     f"{mean_abs(cell, 'ours_accuracy', 'accuracy'):.4f} | {mean_abs(cell, 'ours_f1', 'f1'):.4f} | "
                     f"{mean_abs(cell, 'ours_roc_auc', 'roc_auc'):.4f} |")
    target = [r for r in rows if r["scenario"] in ("none", "covariate") and r["size"] >= 300]
    lines += ["", f"Over the no-drift and covariate-shift batches of 300+ rows ({len(target)} batches, both data sets): "
              f"mean |estimated - realized accuracy| {mean_abs(target, 'ours_accuracy', 'realized'):.4f} for this project "
              f"(target <= 0.03), {mean_abs(target, 'accuracy', 'realized'):.4f} for NannyML; mean |ours - NannyML| "
              f"{mean_abs(target, 'ours_accuracy', 'accuracy'):.4f}.", ""]
    lines += ["Multivariate drift on the generated data (the first batches of each cell): mean score, and how many "
              "batches were flagged. Ours: extra trees, cross-validated ROC AUC, drifted at AUC >= "
              f"{load_threshold()}; NannyML: its LightGBM domain classifier (alert outside its thresholds from "
              "reference chunks) and PCA reconstruction error (alert outside mean +- 3 std of the reference chunks).", "",
              "| scenario | rows | ours: AUC (drifted) | NannyML domain classifier: AUC (alert) | NannyML PCA: error (alert) |",
              "|---|---|---|---|---|"]
    for (setting, scenario, n), cell in cells.items():
        multi = [r for r in cell if "dc_auc" in r]
        if setting != "generated" or not multi:
            continue
        lines.append(f"| {scenario} | {n:,} | {np.mean([r['ours_dc_auc'] for r in multi]):.3f} "
                     f"({sum(r['ours_dc_drifted'] for r in multi)}/{len(multi)}) | "
                     f"{np.mean([r['dc_auc'] for r in multi]):.3f} ({sum(r['dc_alert'] for r in multi)}/{len(multi)}) | "
                     f"{np.mean([r['pca_error'] for r in multi]):.3f} ({sum(r['pca_alert'] for r in multi)}/{len(multi)}) |")
    lines += ["", "Time per batch, median (seconds; NannyML's CBPE timed in `estimate`, its calculators in `calculate`, "
              "fitting excluded; predictions given to both):", "",
              "| rows | CBPE ours | CBPE NannyML | domain classifier ours | domain classifier NannyML | PCA NannyML |",
              "|---|---|---|---|---|---|"]
    for n in sorted({r["size"] for r in rows}):
        at = [r for r in rows if r["size"] == n]
        multi = [r for r in at if "dc_auc" in r]

        def med(key, group):
            values = [r[key] for r in group if key in r]
            return f"{statistics.median(values):.3f}" if values else "-"

        lines.append(f"| {n:,} | {med('ours_cbpe_seconds', at)} | {med('cbpe_seconds', at)} | {med('ours_dc_seconds', multi)} | "
                     f"{med('dc_seconds', multi)} | {med('pca_seconds', multi)} |")
    return "\n".join(lines)


def load_threshold() -> str:
    from ctml.config import load_params

    mv = load_params(ROOT / "params.yaml").drift.multivariate
    return f"{mv.threshold} with p < {mv.p_value}"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
