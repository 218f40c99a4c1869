"""Benchmark: CT on a real-looking multi-year stream: how many batches are measured, quarantined, retrained on.

Writes the seasonal weather stream of `benchmarks/streams.py` (4 years x 10 stations, a CSV written
with its row index, standardized readings that move with the seasons), then in a fresh project
replays it as a new user would:

    python ct.py simulate --scenario replay --data weather.csv --target rain_tomorrow --steps 10 --batch-size 1000

with `ct.reference_rows: 5000` (the first 500 days train the baseline). Three runs: the clean
stream; the stream with one impossible row (`humidity` 1e6) in the fourth batch under
`validate.bad_rows: quarantine_batch`; the same under `drop_rows`. Reports per run the share of
batches quarantined, the batches measured, the retrains, the rows dropped and the time, and writes
them to benchmarks/results.md ("## Replay of a seasonal stream").

    python benchmarks/bench_replay.py [--steps 10] [--batch-size 1000] [--reference-rows 5000]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import load_line, machine_info, write_section  # noqa: E402
from benchmarks.streams import weather_stream  # noqa: E402

BROKEN_BATCH = 4  # the batch that carries the impossible row in the faulty runs
IMPOSSIBLE = 1e6  # a standardized humidity of a million: broken, not drift


def replay(workdir: Path, data: Path, args: argparse.Namespace, bad_rows: str | None) -> dict[str, object]:
    """One replay in a fresh project; the figures of its history."""
    import pandas as pd
    import yaml

    from ctml.ct.repo.vcs import tool_env
    from tests.helpers import make_project

    repo = make_project(workdir / "project")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["ct"]["reference_rows"] = args.reference_rows
    if bad_rows is not None and "bad_rows" in params["validate"]:
        params["validate"]["bad_rows"] = bad_rows
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "commit", "-qam", "replay params"], cwd=repo, check=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "ct.py", "simulate", "--scenario", "replay", "--data", str(data),
                           "--target", "rain_tomorrow", "--steps", str(args.steps), "--batch-size", str(args.batch_size)],
                          cwd=repo, env=tool_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"replay failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    history = pd.read_csv(repo / "metrics/ct_history.csv", dtype=str)
    quarantined = history["status"].eq("quarantined")
    dropped = pd.to_numeric(history.get("dropped_rows", pd.Series(dtype=str)), errors="coerce").fillna(0)
    first_note = history.loc[quarantined, "note"].iloc[0] if quarantined.any() else ""
    return {"steps": len(history), "quarantined": int(quarantined.sum()), "measured": int((~quarantined).sum()),
            "retrains": int(history["status"].eq("retrained").sum()), "dropped": int(dropped.sum()),
            "seconds": seconds, "note": first_note[:160]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--reference-rows", type=int, default=5000)
    parser.add_argument("--label", default="", help="a name for this code version in the table (default: the git commit)")
    args = parser.parse_args()
    label = args.label or subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                         text=True).stdout.strip()
    stream = weather_stream()
    broken = stream.copy()
    broken.loc[args.reference_rows + (BROKEN_BATCH - 1) * args.batch_size + 17, "humidity"] = IMPOSSIBLE
    rows = []
    with tempfile.TemporaryDirectory(prefix="ct-replay-") as tmp:
        for name, frame, bad_rows in (("clean stream", stream, None), ("one impossible row, quarantine_batch", broken,
                                      "quarantine_batch"), ("one impossible row, drop_rows", broken, "drop_rows")):
            work = Path(tmp) / name.replace(" ", "-").replace(",", "")
            work.mkdir()
            data = work / "weather.csv"
            frame.to_csv(data)  # with its row index, as pandas writes by default
            found = replay(work, data, args, bad_rows)
            rows.append((name, found))
            print(name, found, flush=True)
    lines = [machine_info(), f"_Load: {load_line()}; code: {label}._", "",
             f"`benchmarks/streams.py` weather stream ({len(stream)} rows), `ct.reference_rows: {args.reference_rows}`, "
             f"{args.steps} batches of {args.batch_size} rows.", "",
             "| run | batches quarantined | measured | retrains | rows dropped | time (s) | first quarantine reason |",
             "|---|---|---|---|---|---|---|"]
    for name, f in rows:
        lines.append(f"| {name} | {f['quarantined']}/{f['steps']} ({f['quarantined'] / f['steps']:.0%}) | {f['measured']} | "
                     f"{f['retrains']} | {f['dropped']} | {f['seconds']:.0f} | {str(f['note']).replace('|', '/')} |")
    write_section(f"Replay of a seasonal stream ({label})", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
