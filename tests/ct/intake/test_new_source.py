"""A new source starts a new lineage, on a project that already ran the README's `sudden` demo: the
old source's CT batches are not mixed into the new training data (they stay in git and DVC), its
schema is not held against the new source, and the first CT command releases the new source's
baseline as a new major version that `lineage` names the source of."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import copy_project, ct, dvc, git, history, read_json, set_params, sha256, tags

pytestmark = pytest.mark.slow


def stream(n: int = 900) -> pd.DataFrame:
    """A user's own data, nothing like the demo's: other columns and kinds, another label."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"amount": x, "channel": rng.choice(["web", "shop", "phone"], size=n),
                          "member": rng.choice(["true", "false"], size=n)})
    frame["rain"] = np.where(frame["amount"] + (frame["channel"] == "web") > 0.5, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def demo(readme_demo: tuple[Path, str]) -> Path:
    """README command 1's CT part on the built-in data: v1.0.0, a retrain on a folded batch."""
    repo = readme_demo[0]
    assert history(repo)["retrained"].any() and list((repo / "data/batches").rglob("batch-*.parquet"))
    return repo


def old_batches(repo: Path) -> dict[str, str]:
    """Each lineage folder's .dvc file and manifest, and every batch file's bytes (as hex digests), by path."""
    batches = repo / "data/batches"
    records = [*batches.glob("*.dvc"), *batches.glob("*.batches.json")]
    return {**{p.relative_to(repo).as_posix(): p.read_text() for p in records},
            **{p.relative_to(repo).as_posix(): sha256(p) for p in batches.rglob("batch-*.parquet")}}


def test_replay_of_a_real_csv_after_the_demo_is_a_new_lineage(demo: Path, tmp_path: Path):
    repo = copy_project(demo, tmp_path)
    before, versions = old_batches(repo), [t for t in tags(repo) if t.startswith("model@")]
    data = tmp_path / "real.csv"
    stream().to_csv(data, index=False)
    ct(repo, "simulate", "--scenario", "replay", "--data", str(data), "--target", "rain", "--steps", "2", "--batch-size", "100")
    schema = read_json(repo / "data/schema.json")
    assert schema["source"] == "data/source/replay-real.parquet" and set(schema["columns"]) == {"amount", "channel", "member"}
    new = [t for t in tags(repo) if t.startswith("model@") and t not in versions]
    assert new[0] == "model@v2.0.0", new  # the new source's baseline: a new major version
    assert all(old_batches(repo).get(path) == text for path, text in before.items()), "old batches stay, untouched"
    training = pd.read_parquet(repo / "data/raw/train.parquet")
    folded = [p for p in (repo / "data/batches").rglob("batch-*.parquet") if p.relative_to(repo).as_posix() not in before]
    reference = yaml.safe_load((repo / "params.yaml").read_text())["ct"]["reference_rows"]
    assert len(training) == reference + sum(len(pd.read_parquet(p)) for p in folded), "no old CT batch in the new data"
    assert "mean radius" not in training.columns
    info = json.loads(ct(repo, "lineage", "v2.0.0", "--json").stdout)
    assert info["data"]["source"] == "data/source/replay-real.parquet" and info["data"]["target"] == "rain"
    assert json.loads(ct(repo, "lineage", "v1.0.0", "--json").stdout)["data"]["source"] == "sklearn:breast_cancer"
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""


def test_the_readme_own_data_steps_after_the_demo(demo: Path, tmp_path: Path):
    """As README "Your own data" says, on the project README command 1 left, then a cron check."""
    repo = copy_project(demo, tmp_path)
    # A delivery of the old source, still in the inbox when the source changes: it must not block.
    old = pd.read_parquet(repo / "data/raw/train.parquet").head(40)
    old.to_csv(repo / "data/incoming/left-over.csv", index=False)
    stream().to_csv(tmp_path / "my.csv", index=False)
    shutil.copy(tmp_path / "my.csv", repo / "data/source/my.csv")
    dvc("add", "data/source/my.csv", cwd=repo)
    set_params(repo, data__source="data/source/my.csv", data__target="rain")
    dvc("repro", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "my own data", cwd=repo)
    out = ct(repo, "check", check=False)
    assert out.returncode == 3 and "model@v2.0.0" in tags(repo), out.stdout + out.stderr  # released, then the old file
    left = history(repo).iloc[-1]
    assert (left["status"], left["file"]) == ("quarantined", "data/incoming/left-over.csv")
    assert (repo / f"data/quarantine/step-{left['step']:04d}.csv").read_text() == old.to_csv(index=False)
    assert not (repo / "data/incoming/left-over.csv").exists()
    assert read_json(repo / "models/production/model.json")["model_sha256"] == read_json(repo / "models/model.json")["model_sha256"]
    info = json.loads(ct(repo, "lineage", "v2.0.0", "--json").stdout)
    assert info["data"]["source"] == "data/source/my.csv" and info["data"]["batches"] == []
    assert ct(repo, "check").stdout == "check: nothing new in data/incoming or data/labels\n"
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}


def test_a_replay_whose_new_baseline_is_blocked_leaves_params_and_the_tree_as_they_were(released_repo: Path, tmp_path: Path):
    """scikit-learn's wine table replayed as a new source on a released project, with a latency bound no model
    meets: the new lineage's baseline is blocked, the command fails with one line, and params.yaml (byte for
    byte), the working tree (`git status`), HEAD, the tags and the DVC outputs are as before the command."""
    from sklearn import datasets

    repo = released_repo
    params = repo / "params.yaml"
    text = params.read_text().replace("p95_latency_ms: 100 ", "p95_latency_ms: 0.0001")  # comments kept
    params.write_text(text.replace("reference_rows: 500 ", "reference_rows: 120 "))
    git("commit", "-qam", "an impossible latency bound", cwd=repo)
    data = tmp_path / "wine.csv"
    datasets.load_wine(as_frame=True).frame.to_csv(data, index=False)
    before = (params.read_bytes(), git("status", "--porcelain", "--ignored", cwd=repo).stdout,
              git("rev-parse", "HEAD", cwd=repo).stdout, tags(repo), (repo / "models/model.json").read_bytes(),
              (repo / "data/raw/train.parquet").read_bytes(), dvc("status", "--json", cwd=repo).stdout)
    out = ct(repo, "simulate", "--scenario", "replay", "--data", str(data), "--target", "target", "--steps", "1",
             "--batch-size", "30", check=False)
    assert out.returncode == 1 and "blocked by gates latency" in out.stderr, out.stdout + out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    after = (params.read_bytes(), git("status", "--porcelain", "--ignored", cwd=repo).stdout,
             git("rev-parse", "HEAD", cwd=repo).stdout, tags(repo), (repo / "models/model.json").read_bytes(),
             (repo / "data/raw/train.parquet").read_bytes(), dvc("status", "--json", cwd=repo).stdout)
    assert after == before
    assert not (repo / "data/source/replay-wine.parquet").exists()
    # A cron check with a delivery, after a user's change of the model: the new baseline is trained, and blocked.
    params.write_text(params.read_text().replace("n_estimators: 120 ", "n_estimators: 60  "))
    git("commit", "-qam", "a smaller forest", cwd=repo)
    rows = datasets.load_breast_cancer(as_frame=True).frame.head(40)
    rows.to_csv(repo / "data/incoming/rows.csv", index=False)
    before = (params.read_bytes(), git("status", "--porcelain", "--ignored", cwd=repo).stdout,
              git("rev-parse", "HEAD", cwd=repo).stdout, tags(repo), (repo / "models/model.json").read_bytes(),
              (repo / "data/raw/train.parquet").read_bytes(), dvc("status", "--json", cwd=repo).stdout)
    out = ct(repo, "check", check=False)
    assert out.returncode == 1 and "blocked by gates latency" in out.stderr, out.stdout + out.stderr
    after = (params.read_bytes(), git("status", "--porcelain", "--ignored", cwd=repo).stdout,
             git("rev-parse", "HEAD", cwd=repo).stdout, tags(repo), (repo / "models/model.json").read_bytes(),
             (repo / "data/raw/train.parquet").read_bytes(), dvc("status", "--json", cwd=repo).stdout)
    assert after == before and (repo / "data/incoming/rows.csv").read_bytes() == rows.to_csv(index=False).encode()


def test_own_data_in_a_semicolon_csv_with_decimal_commas(repo: Path, tmp_path: Path):
    """scikit-learn's wine table as a German spreadsheet writes it (';'-separated, decimal commas), through the
    README's own-data steps with data.csv set, then a delivery in the same dialect: read, measured, not quarantined."""
    from sklearn import datasets

    frame = datasets.load_wine(as_frame=True).frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    source, delivery = frame.iloc[:130], frame.iloc[130:]
    source.to_csv(repo / "data/source/wine.csv", sep=";", decimal=",", index=False)
    assert ";14," in (repo / "data/source/wine.csv").read_text() or ";13," in (repo / "data/source/wine.csv").read_text()
    dvc("add", "data/source/wine.csv", cwd=repo)
    set_params(repo, data__source="data/source/wine.csv", data__target="target", data__csv={"sep": ";", "decimal": ","})
    dvc("repro", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "my data, as my spreadsheet writes it", cwd=repo)
    training = pd.read_parquet(repo / "data/raw/train.parquet")
    assert training["alcohol"].dtype == "float64" and training["alcohol"].tolist() == source["alcohol"].tolist()
    delivery.to_csv(repo / "data/incoming/delivery.csv", sep=";", decimal=",", index=False)
    out = ct(repo, "check", check=False)
    assert out.returncode in (0, 3) and "model@v1.0.0" in tags(repo), out.stdout + out.stderr
    step = history(repo).iloc[-1]
    assert step["status"] != "quarantined" and step["batch_rows"] == len(delivery), step.to_dict()
