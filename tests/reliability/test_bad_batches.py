"""Bad user batches through `python ct.py check`: each is quarantined with a reason, recorded in the
history, and never reaches the training data, the model or the tags; a good batch afterwards is
processed normally."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import built_once, copy_project, ct, git, history
from tests.reliability.support import snapshot, tracked_changes

pytestmark = pytest.mark.slow

ROWS = 40


def _good(repo: Path) -> pd.DataFrame:
    """Rows of the training data: what a healthy feed sends."""
    return pd.read_parquet(repo / "data/raw/train.parquet").sample(ROWS, random_state=7).reset_index(drop=True)


def _csv(frame: pd.DataFrame, **kwargs) -> bytes:
    return frame.to_csv(index=False, **kwargs).encode()


def _with_cells(frame: pd.DataFrame, column: str, values: list) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column].astype(object)
    out.loc[: len(values) - 1, column] = values
    return out


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


# case -> (file name, bytes from the good rows, text the reason must contain)
CASES = {
    "empty file": ("batch.csv", lambda g: b"", "file is empty"),
    "header only": ("batch.csv", lambda g: (",".join(g.columns) + "\n").encode(), "has a header but no rows"),
    "missing column": ("batch.csv", lambda g: _csv(g.drop(columns=["mean radius"])), "column 'mean radius': missing"),
    "wrong columns": ("batch.csv", lambda g: _csv(g.rename(columns=str.upper)), "missing (recorded in the schema from data.source)"),
    "extra column": ("batch.csv", lambda g: _csv(g.assign(customer_id=range(ROWS))),
                     "column 'customer_id': not in the schema"),
    "wrong type (booleans in a numeric column)": (
        "batch.csv", lambda g: _csv(g.assign(**{"mean radius": np.where(np.arange(ROWS) % 2, "true", "false")})),
        "column 'mean radius': recorded numeric, found non-numeric"),
    "wrong label type": ("batch.csv", lambda g: _csv(g.assign(target=np.where(g["target"] == 1, "yes", "no"))),
                         "label column 'target': non-numeric label"),
    "string in a numeric column": ("batch.csv", lambda g: _csv(_with_cells(g, "mean texture", ["abc"])),
                                   "column 'mean texture': recorded numeric, found non-numeric value 'abc'"),
    "NaN column": ("batch.csv", lambda g: _csv(g.assign(**{"mean area": np.nan})), "column 'mean area': 100% missing"),
    "NaN labels": ("batch.csv", lambda g: _csv(_with_cells(g, "target", [np.nan] * 3)), "3 missing labels"),
    "+inf": ("batch.csv", lambda g: _csv(_with_cells(g, "mean area", [np.inf])), "non-finite value inf"),
    "-inf": ("batch.csv", lambda g: _csv(_with_cells(g, "worst area", [-np.inf])), "non-finite value -inf"),
    "absurd magnitude 1e300": ("batch.csv", lambda g: _csv(_with_cells(g, "mean area", [1e300])),
                               "value 1e+300 absurdly far outside the recorded range"),
    "semicolon delimiter": ("batch.csv", lambda g: _csv(g, sep=";"), "the file looks ';'-delimited"),
    "latin-1 encoding": ("batch.csv", lambda g: g.assign(region="Zürich").to_csv(index=False).encode("latin-1"),
                         "not UTF-8 text (invalid"),
    "UTF-16 encoding": ("batch.csv", lambda g: g.to_csv(index=False).encode("utf-16"),
                        "not UTF-8 text (UTF-16 byte-order mark"),
    "CSV cut mid-row": ("batch.csv", lambda g: _csv(g)[: len(_csv(g)) - 150], "truncated: the last row has"),
    "CSV cut mid-row, no labels": ("batch.csv", lambda g: _csv(g.drop(columns="target"))[: len(_csv(g.drop(columns="target"))) - 150],
                                   "truncated: the last row has"),
    "Parquet cut short": ("batch.parquet", lambda g: _parquet(g)[: len(_parquet(g)) // 2], "cannot be parsed"),
}


def _feed(repo: Path, name: str, content: bytes) -> Path:
    for old in (repo / "data/incoming").glob("batch.*"):
        old.unlink()
    path = repo / "data/incoming" / name
    path.write_bytes(content)
    return path


@pytest.fixture(scope="module")
def fed(released: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Every bad batch through `ct.py check`, one after another in one project (as a cron job would
    meet them), then a good one; per case what was fed, printed and left behind."""
    return built_once(tmp_path_factory, "bad-batches", lambda parent: _feed_every_case(copy_project(released, parent)))


def _feed_every_case(repo: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for case, (name, make, _) in CASES.items():
        content = make(_good(repo))
        before, step = snapshot(repo), len(history(repo)) + 1
        _feed(repo, name, content)
        proc = ct(repo, "check", check=False)
        out = proc.stdout
        results[case] = {"content": content, "name": name, "step": step, "out": out, "exit": proc.returncode, "before": before,
                         "after": snapshot(repo), "row": history(repo).iloc[-1].to_dict(),
                         "incoming": sorted(p.name for p in (repo / "data/incoming").glob("batch.*")),
                         "changes": tracked_changes(repo), "commit": git("log", "-1", "--format=%s", cwd=repo).stdout.strip()}
    return results


@pytest.mark.parametrize("case", list(CASES))
def test_bad_batch_is_quarantined_with_a_reason(fed, case: str) -> None:
    repo, results = fed
    result, (_, _, reason) = results[case], CASES[case]
    step = result["step"]
    assert "QUARANTINED" in result["out"] and result["exit"] == 3  # needs attention
    stem = repo / "data/quarantine" / f"step-{step:04d}"
    assert stem.with_suffix(Path(result["name"]).suffix).read_bytes() == result["content"], "moved, byte for byte"
    assert reason in stem.with_suffix(".reason.txt").read_text()
    assert result["incoming"] == [] and not list((repo / "data/archive").rglob(f"step-{step:04d}.*")), "quarantined, not archived"
    row = result["row"]
    assert (row["step"], row["status"]) == (step, "quarantined")
    assert reason in row["note"] and f"data/quarantine/step-{step:04d}" in row["note"]
    assert result["after"] == result["before"], "training data, model, production, dvc.lock or tags changed"
    assert result["changes"] == ""
    assert result["commit"] == f"ct: record step {step} (check)"


def test_a_good_batch_after_the_bad_ones_is_processed(fed) -> None:
    repo, results = fed
    first = next(iter(results.values()))["before"]
    _feed(repo, "batch.csv", _csv(_good(repo)))
    out = ct(repo, "check").stdout
    past = history(repo)
    row = past.iloc[-1]
    assert (row["status"], row["batch_rows"], row["retrained"]) == ("ok", ROWS, False), out
    assert 0.0 <= row["drift_score"] <= row["threshold"]
    assert past["step"].tolist() == list(range(1, len(past) + 1))
    assert past["status"].tolist()[-len(CASES) - 1:] == ["quarantined"] * len(CASES) + ["ok"]
    assert len(list((repo / "data/quarantine").glob("*.reason.txt"))) == len(CASES)
    after = snapshot(repo)
    kept = ("training data", "batches", "model", "production", "tags")
    assert {k: after[k] for k in kept} == {k: first[k] for k in kept}
    assert tracked_changes(repo) == ""


def test_quarantine_is_logged_to_tracking(fed) -> None:
    """The step row, quarantined status and reason included, goes to the offline Neptune run."""
    repo, _ = fed
    logs = "".join(p.read_text() for p in (repo / ".neptune").rglob("data-1.log"))
    assert '"quarantined"' in logs and "file is empty" in logs
