"""False alarms and power of every retrain trigger, by batch size (benchmarks/results.md, "Monitoring: false alarms and power").

The reference distribution is known exactly: a multivariate normal with the means and covariance of
the built-in breast-cancer features (30 correlated numeric columns), labels drawn from a logistic
model fitted to the real labels. A model of the project's defaults (random forest, 120 trees, depth 5,
standard scaling) is trained on 5,000 rows, calibrated (CBPE) on 2,000 others, and held to a
100,000-row reference. Batches, none of them labelled (so the label-free triggers are what decide):
- none: drawn from the reference distribution itself;
- trivial: every feature moved by 0.05 of its std (nothing that matters changed);
- shifted: a third of the features (10 of 30) moved by 0.5 std.
Each configuration's retrain decision is taken on the same batches; `ct.threshold` is params.yaml's.

    python benchmarks/bench_false_alarms.py [--sizes 100,500,1000,10000,100000] [--batches 200,200,150,80,25]

`--designs` measures the drift reference instead (section "Drift reference design"): streams of five
batches after a 2,000-row training set, each batch that would retrain folded into the training data,
decided against `latest` (the newest folded batch: the design before), `training` (all training data)
and `seen` (the nearest stretch: source rows or a folded batch: the design after), with params.yaml's
per-feature rule and domain classifier. Streams: none (5 normal), back (2 shifted, 3 normal), persist
(5 shifted), new (1 shifted, then 4 shifted on other features: a second shift to catch). Per design and
batch size: the false-alarm rate on the no-drift streams, the false-alarm rate on the batches after a shift
that bring nothing new (a return to normal, a shift that persists), the power on the batches that bring a
shift, and the retrains per stream.

    python benchmarks/bench_false_alarms.py --designs [--sizes 200,1000] [--streams 10]
    (5 minutes of CPU; 15 minutes on the clock at load 9 on 2 cores)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import load_line, machine_info, write_section  # noqa: E402

SCENARIOS = ("none", "trivial", "shifted")


def distribution(seed: int):
    """(mean, covariance, logistic weights on standardized features, intercept, feature names)."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer()
    x = data.data
    z = (x - x.mean(0)) / x.std(0)
    lr = LogisticRegression(C=0.05, max_iter=2000, random_state=seed).fit(z, data.target)
    names = [n.replace(" ", "_") for n in data.feature_names]
    return x.mean(0), np.cov(x.T), x.std(0), lr.coef_[0], lr.intercept_[0], names


def draw(n: int, rng, dist, scenario: str = "none"):
    import numpy as np
    import pandas as pd

    mean, cov, std, w, b, names = dist
    x = rng.multivariate_normal(mean, cov, size=n, method="cholesky")
    if scenario == "trivial":
        x = x + 0.05 * std
    elif scenario == "shifted":
        x[:, ::3] = x[:, ::3] + 0.5 * std[::3]  # 10 of the 30 features
    p = 1 / (1 + np.exp(-(((x - mean) / std) @ w + b)))
    frame = pd.DataFrame(x, columns=names)
    frame["target"] = (rng.random(n) < p).astype("int64")
    return frame


def configurations(drift):
    """name -> drift params of each per-feature rule compared."""
    auto = drift.auto
    mv_off = drift.multivariate.model_copy(update={"enabled": False})

    def with_(**update):
        return drift.model_copy(update={"multivariate": mv_off, **update})

    return {
        "before: auto by reference size, no correction": with_(method="auto", correction="none", min_effect={},
                                                              auto=auto.model_copy(update={"size_of": "reference"})),
        "auto by smaller sample, no correction": with_(method="auto", correction="none", min_effect={},
                                                       auto=auto.model_copy(update={"size_of": "smaller"})),
        "auto by smaller sample, bonferroni": with_(method="auto", correction="bonferroni", min_effect={},
                                                    auto=auto.model_copy(update={"size_of": "smaller"})),
        "auto by smaller sample, fdr": with_(method="auto", correction="fdr", min_effect={},
                                             auto=auto.model_copy(update={"size_of": "smaller"})),
        "ks everywhere, no correction": with_(method="ks", correction="none", min_effect={}),
        "ks everywhere, bonferroni": with_(method="ks", correction="bonferroni", min_effect={}),
        "ks everywhere, bonferroni, D >= 0.1": with_(method="ks", correction="bonferroni", min_effect={"ks": 0.1}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,500,1000,10000,100000")
    parser.add_argument("--batches", default="200,200,150,80,25", help="batches per scenario at each size")
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--out", default=None, help="also write every batch's decisions here (JSON lines)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--designs", action="store_true", help="measure the drift reference designs over streams instead")
    parser.add_argument("--streams", type=int, default=10, help="--designs: streams per kind and batch size")
    parser.add_argument("--from", dest="source", default=None,
                        help="rebuild the table from a file --out wrote (the multivariate rule with today's params)")
    args = parser.parse_args()
    if args.designs:
        args.sizes = args.sizes if args.sizes != "100,500,1000,10000,100000" else "200,1000"
        designs(args)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    counts = [int(s) for s in args.batches.split(",")]

    from ctml.config import load_params

    if args.source:
        rows = [json.loads(line) for line in Path(args.source).read_text().splitlines() if line.strip()]
        params = load_params(ROOT / "params.yaml")
        write(rows, list(configurations(params.drift)), sizes, params, args)
        return

    import numpy as np
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ctml.config import load_params
    from ctml.drift import detect, estimate, multivariate
    from ctml.drift.reference import build
    from ctml.model.estimator import build_estimator

    params = load_params(ROOT / "params.yaml")
    drift, ct = params.drift, params.ct
    rng = np.random.default_rng(params.seed)
    dist = distribution(params.seed)
    train, test = draw(5000, rng, dist), draw(2000, rng, dist)
    features = [c for c in train.columns if c != "target"]
    model = make_pipeline(StandardScaler(), build_estimator(params.train, "classification", params.seed))
    model.fit(train[features], train["target"])
    calibration = estimate.fit_calibration(model, model.predict_proba(test[features]), test["target"], "bench",
                                           params.evaluate.calibration, params.seed)
    test_accuracy = calibration["reference"]["accuracy"]
    reference = build(draw(args.reference_rows, rng, dist), "target", drift.multivariate.max_rows, params.seed)
    configs = configurations(drift)
    rows: list[dict] = []
    sink = open(args.out, "w") if args.out else None
    for n, batches in zip(sizes, counts):
        for scenario in SCENARIOS:
            for i in range(batches):
                batch_rng = np.random.default_rng([params.seed, n, SCENARIOS.index(scenario), i])
                batch = draw(n, batch_rng, dist, scenario)
                current = detect.align(batch, reference.kinds, "batch")
                row = {}
                for name, cfg in configs.items():
                    found = detect.compare(reference.summaries, current, reference.kinds, cfg)
                    row[name] = sum(f.drifted for f in found.values()) / len(found) > ct.threshold
                start = time.perf_counter()
                multi = multivariate.domain_classifier(reference.sample, current, reference.kinds, drift.multivariate,
                                                       params.seed + i)
                mv_seconds = time.perf_counter() - start
                start = time.perf_counter()
                proba = model.predict_proba(current[features])
                found = estimate.estimates(estimate.tally(proba, calibration), calibration, drift.estimation.band_sigmas)
                row.update({"n": n, "scenario": scenario, "i": i, "auc": multi["score"], "mv_rows": multi.get("batch_rows"),
                            "mv_seconds": mv_seconds, "est_seconds": time.perf_counter() - start,
                            "estimated": found["estimated_accuracy"], "test_accuracy": test_accuracy,
                            "realized": float((proba.argmax(1) == batch["target"].to_numpy()).mean())})
                rows.append(row)
                if sink:
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
            print(scenario, n, len(rows), flush=True)
    if sink:
        sink.close()
    write(rows, list(configs), sizes, params, args)


STREAMS = {"none": "NNNNN", "back": "SSNNN", "persist": "SSSSS", "new": "STTTT"}  # N normal, S shifted, T shifted otherwise
EXPECTED = {"none": 0, "back": 1, "persist": 1, "new": 2}  # retrains a stream should cost


def draw_kind(n: int, rng, dist, kind: str):
    """N, S (the `shifted` scenario: features 0, 3, 6, ...) or T (other features: 1, 4, 7, ... moved)."""
    if kind != "T":
        return draw(n, rng, dist, "shifted" if kind == "S" else "none")
    frame = draw(n, rng, dist)
    std, names = dist[2], dist[5]
    for i in range(1, len(names), 3):
        frame[names[i]] = frame[names[i]] + 0.5 * std[i]
    return frame


def run_stream(design: str, source, batches, params, seed: int) -> list[bool]:
    """Retrain decisions of one stream under one reference design; a retrain folds the batch in."""
    import pandas as pd

    from ctml.drift import detect, multivariate
    from ctml.drift.reference import build

    drift, ct = params.drift, params.ct
    refs = [build(source, "target", drift.multivariate.max_rows, seed)]
    folded: list = []
    decisions = []
    for i, batch in enumerate(batches):
        if design == "latest":
            reference = refs[-1]
        elif design == "training":
            reference = refs[0] if len(refs) == 1 else build(pd.concat([source, *folded]), "target", drift.multivariate.max_rows, seed)
        else:
            current = detect.align(batch, refs[0].kinds, "batch")
            reference = refs[detect.nearest([r.summaries for r in refs], current, refs[0].kinds, drift)]
        current = detect.align(batch, reference.kinds, "batch")
        found = detect.compare(reference.summaries, current, reference.kinds, drift)
        multi = multivariate.domain_classifier(reference.sample, current, reference.kinds, drift.multivariate, seed + i)
        retrain = sum(f.drifted for f in found.values()) / len(found) > ct.threshold or \
            bool(ct.multivariate_trigger and multi["drifted"])
        decisions.append(retrain)
        if retrain:
            folded.append(batch)
            refs.append(build(batch, "target", drift.multivariate.max_rows, seed))
    return decisions


def designs(args) -> None:
    """The "Drift reference design" section: retrains per stream, false-alarm rate and power under each design."""
    import numpy as np

    from ctml.config import load_params

    params = load_params(ROOT / "params.yaml")
    dist = distribution(params.seed)
    sizes = [int(s) for s in args.sizes.split(",")]
    names = ("latest", "training", "seen")
    decided: dict[tuple, list[list[bool]]] = {}  # (design, stream, size) -> each stream's per-batch decisions
    started = time.perf_counter()
    for n in sizes:
        for stream, kinds in STREAMS.items():
            for r in range(args.streams):
                rng = np.random.default_rng([params.seed, n, list(STREAMS).index(stream), r])
                source = draw(2000, rng, dist)
                batches = [draw_kind(n, rng, dist, k) for k in kinds]
                for design in names:
                    decided.setdefault((design, stream, n), []).append(run_stream(design, source, batches, params, params.seed + r))
            print(stream, n, flush=True)
    seconds = time.perf_counter() - started
    lines = [machine_info(), f"Load average at the end: {load_line()}; {seconds:.0f} s in all.", "",
             (f"`python benchmarks/bench_false_alarms.py --designs --sizes {args.sizes} --streams {args.streams}`. "
             f"{args.streams} streams of each kind and batch size, of five batches each, after 2,000 training rows of the "
             "benchmark's distribution (shifted: a third of the features by 0.5 std); a batch that would retrain "
             "(params.yaml's per-feature rule and domain classifier) is folded into the training data. The batches "
             "that should retrain are a shift's first batch (back, persist, new) and new's second shift (its second "
             "batch); every other retrain is a false alarm."), "",
             "| reference | batch rows | false alarms, no drift (none) | false alarms after a shift (back, persist, new) "
             "| power (shifted batches to retrain) | " + " | ".join(f"retrains per stream: {s} (expected {e})"
                                                                 for s, e in EXPECTED.items()) + " | streams with exactly the expected retrains |",
             "|---|---|---|---|---|" + "---|" * len(STREAMS) + "---|"]
    for design in names:
        label = f"{design}{' (before)' if design == 'latest' else ' (after, default)' if design == 'seen' else ''}"
        for n in sizes:
            rates = design_rates({s: decided[(design, s, n)] for s in STREAMS})
            lines.append(f"| {label} | {n:,} | " + " | ".join(f"{k}/{m} ({k / m:.0%})" for k, m in rates) + " | " +
                         " | ".join(f"{np.mean([sum(d) for d in decided[(design, s, n)]]):.2f}" for s in STREAMS) + " | " +
                         f"{sum(sum(d) == EXPECTED[s] for s in STREAMS for d in decided[(design, s, n)])}/{len(STREAMS) * args.streams} |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Drift reference design", body)


SHOULD_RETRAIN = {"none": (), "back": (0,), "persist": (0,), "new": (0, 1)}  # batch positions that bring a shift


def design_rates(decided: dict[str, list[list[bool]]]) -> list[tuple[int, int]]:
    """(retrains, batches) three ways: on the no-drift streams (false alarms), on the other streams' batches
    that bring nothing new (false alarms after a shift, a return to normal included), and on the batches
    that bring a shift (power)."""
    calm = [d for s in decided["none"] for d in s]
    after, shifts = [], []
    for stream in ("back", "persist", "new"):
        for decisions in decided[stream]:
            for i, retrain in enumerate(decisions):
                (shifts if i in SHOULD_RETRAIN[stream] else after).append(retrain)
    return [(sum(calm), len(calm)), (sum(after), len(after)), (sum(shifts), len(shifts))]


def multivariate_fired(row: dict, params) -> bool:
    """The domain classifier's rule on a recorded AUC, with today's threshold and p-value (normal
    approximation of Mann-Whitney's U for equal sides, no ties: what the stage's test reduces to)."""
    from math import erfc, sqrt

    mv = params.drift.multivariate
    if row["auc"] is None or not mv.enabled:
        return False
    side = row.get("mv_rows") or min(row["n"], mv.max_rows)
    z = (row["auc"] - 0.5) / sqrt((2 * side + 1) / (12 * side * side))
    return row["auc"] >= mv.threshold and 0.5 * erfc(z / sqrt(2)) < mv.p_value


def write(rows: list[dict], configs: list[str], sizes: list[int], params, args) -> None:
    import numpy as np

    for row in rows:
        row["multivariate"] = multivariate_fired(row, params)
        row["estimated drop"] = row["test_accuracy"] - row["estimated"] > params.ct.max_estimated_drop if "test_accuracy" in row \
            else row["estimated drop"]
        for name in configs:
            row[f"{name} + multivariate + estimated drop"] = row[name] or row["multivariate"] or row["estimated drop"]
    cells = {(s, n): [r for r in rows if r["scenario"] == s and r["n"] == n] for s in SCENARIOS for n in sizes}
    rules = [*configs, "multivariate", "estimated drop", *(f"{name} + multivariate + estimated drop" for name in configs)]
    header = "| trigger | " + " | ".join(f"{s} @ {n:,}" for s in SCENARIOS for n in sizes) + " |"
    mv = params.drift.multivariate
    lines = [machine_info(), f"Load average at the end: {load_line()}.", "",
             f"`python benchmarks/bench_false_alarms.py --sizes {args.sizes} --batches {args.batches}`. "
             "Share of batches that would retrain (k/N), by scenario and batch size; the reference has "
             f"{args.reference_rows:,} rows of the same distribution; `ct.threshold` {params.ct.threshold} on the share of "
             f"drifted features; domain classifier ({mv.n_estimators} trees, {mv.folds} folds, at most {mv.max_rows} rows a side) "
             f"`threshold` {mv.threshold}, `p_value` {mv.p_value}; `ct.max_estimated_drop` {params.ct.max_estimated_drop}. "
             "Targets: none <= 1% at every size, trivial <= 5%, shifted >= 95% from 500 rows.",
             "", header, "|---|" + "---|" * (len(SCENARIOS) * len(sizes))]
    for rule in rules:
        lines.append(f"| {rule} | " + " | ".join(f"{sum(bool(r[rule]) for r in cells[k])}/{len(cells[k])}" for k in cells) + " |")
    drift = params.drift
    chosen = [name for name, cfg in configurations(drift).items()
              if (cfg.method, cfg.correction, dict(cfg.min_effect), cfg.auto.size_of) ==
              (drift.method, drift.correction, {k: v for k, v in drift.min_effect.items() if v}, drift.auto.size_of)]
    triggers = " + multivariate" * params.ct.multivariate_trigger + " + estimated drop"
    lines += ["", f"params.yaml's rule: {'`' + chosen[0] + triggers + '`' if chosen else 'none of the rows above'}."]
    lines += ["", "Mean |estimated - realized accuracy| (CBPE, unlabelled batches; realized from the labels kept aside): " + ", ".join(
        f"{s} @ {n:,}: {np.mean([abs(r['estimated'] - r['realized']) for r in cells[(s, n)]]):.4f}" for s, n in cells) + "."]
    if all("mv_seconds" in r for r in rows):
        lines += ["", "Cost per batch, median by batch size: domain classifier " + ", ".join(
            f"{n:,}: {np.median([r['mv_seconds'] for r in rows if r['n'] == n]):.2f} s" for n in sizes) +
            "; CBPE (predict_proba + estimate) " + ", ".join(
            f"{n:,}: {np.median([r['est_seconds'] for r in rows if r['n'] == n]):.3f} s" for n in sizes) + "."]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Monitoring: false alarms and power", body)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
