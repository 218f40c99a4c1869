"""`ct.py status`: production version, last drift score, threshold, last retrain."""
from __future__ import annotations

import argparse
from typing import Any

from ctml import layout


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common], help="production version, last drift score, threshold, last retrain")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(run=run)


def current_status(root) -> dict[str, Any]:
    """Where CT stands, as plain data (what `--json` prints)."""
    from ctml.config import load_params
    from ctml.ct import history
    from ctml.ct.release import tags

    params = load_params(root / layout.PARAMS)
    past = history.read(root / layout.HISTORY)
    last = past[-1] if past else None
    retrains = [r for r in past if r.retrained]
    return {
        "production_version": tags.production_version(root),
        "latest_version": (tags.versions(root) or [None])[-1],
        "threshold": params.ct.threshold,
        "last_drift_score": None if last is None else last.drift_score,
        "last_step": None if last is None else last.as_json(),
        "last_retrain": None if not retrains else {"step": retrains[-1].step, "time": retrains[-1].time,
                                                   "version": retrains[-1].model_version},
        "steps_recorded": len(past),
    }


def run(args: argparse.Namespace) -> int:
    from ctml.ct.repo.vcs import project_root
    from ctml.ct.reporting.console import print_json, table

    info = current_status(project_root())
    if args.json:
        print_json(info)
        return 0
    last, retrain = info["last_step"], info["last_retrain"]
    table("CT status", ["item", "value"], [
        ["production version", info["production_version"] or "none"],
        ["latest version", info["latest_version"] or "none"],
        ["threshold (ct.threshold)", info["threshold"]],
        ["last drift score", info["last_drift_score"]],
        ["last step", "none" if last is None else f"#{last['step']} at {last['time']} ({last['status']})"],
        ["last retrain", "never" if retrain is None else f"#{retrain['step']} at {retrain['time']}"],
        ["steps recorded", info["steps_recorded"]],
    ])
    return 0
