"""`ct.py status`: production version, last drift score, threshold, last retrain, the shadow and its evidence."""
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
        "release_mode": params.release.mode,
        "shadow": shadow_status(root, params),
    }


def shadow_status(root, params) -> dict[str, Any] | None:
    """The version in shadow and its evidence so far (None when none is), or why its copy cannot be scored."""
    from ctml.ct.release import shadow

    found = shadow.current(root)
    if found is None:
        return None
    info: dict[str, Any] = {"version": found.version, "tag": found.tag, "since": found.since}
    if (why := shadow.problem(root, found)) is not None:
        return {**info, "problem": why}
    from ctml.ct.context import Context
    from ctml.ct.step import trial

    return {**info, "evidence": trial.evidence(Context(root, params, commit=False), found).as_json()}


def shadow_rows(found: dict[str, Any] | None) -> list[list[Any]]:
    if found is None:
        return [["shadow", "none"]]
    rows = [["shadow", f"{found['version']} ({found['tag']}, since {found['since']})"]]
    if "problem" in found:
        return [*rows, ["shadow problem", found["problem"]]]
    proof = found["evidence"]
    rows.append(["shadow evidence", f"{proof['rows']} of {proof['needed']} rows labelled ({proof['scored']} scored by both)"])
    if proof["production_value"] is not None:
        rows.append([f"shadow {proof['metric']}", f"production {proof['production_value']:.4f}, shadow {proof['shadow_value']:.4f}, "
                                                 f"margin [{proof['margin_low']:+.4f}, {proof['margin_high']:+.4f}]"])
    return [*rows, ["shadow verdict so far", f"{proof['verdict']}: {proof['reason']}"]]


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
        ["release mode (release.mode)", info["release_mode"]],
        *shadow_rows(info["shadow"]),
    ])
    return 0
