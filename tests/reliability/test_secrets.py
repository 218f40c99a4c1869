"""Credentials come from the environment only and never reach a file, a log, a commit or a tag.

A CT run with a retrain (every stage, a commit, tags, a push) with a Neptune token and remote
credentials set and no reachable Neptune; then every byte the project holds is searched: plain
files, compressed ones opened (git objects, Parquet, joblib/zlib), commit and tag messages, and
what ct.py printed.
"""
from __future__ import annotations

import base64
import io
import json
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.helpers import git, retrain_on_drift, store
from tests.reliability.support import check_releases

pytestmark = pytest.mark.slow

API_KEY = "ctml-test-secret-api-key-6f1d9c"
# Neptune tokens are base64 JSON naming the server; this one points at a name that never resolves.
TOKEN = base64.b64encode(json.dumps({"api_address": "https://neptune.invalid", "api_url": "https://neptune.invalid",
                                     "api_key": API_KEY}).encode()).decode()
AWS_SECRET = "ctml-test-aws-secret-0b7e41aa"
SECRETS = {"token": TOKEN, "api key inside the token": API_KEY, "remote credential": AWS_SECRET}
ENVIRONMENT = {"NEPTUNE_API_TOKEN": TOKEN, "NEPTUNE_PROJECT": "ctml/secrets-test", "AWS_ACCESS_KEY_ID": "AKIACTMLTEST",
               "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "NO_PROXY": "*"}


def _decoded(data: bytes) -> list[bytes]:
    """The bytes and, for compressed formats, what they decompress to."""
    out = [data]
    if data[:4] == b"PAR1":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        out.append(table.to_pandas().to_csv().encode())
        out.append(str(table.schema.metadata).encode())
    elif data[:1] == b"\x78":  # zlib stream: joblib's compress=N, git loose objects
        try:
            out.append(zlib.decompressobj().decompress(data))
        except zlib.error:
            pass
    return out


def _leaks(blobs: dict[str, bytes]) -> list[str]:
    found = set()
    for where, data in blobs.items():
        for chunk in _decoded(data):
            for name, secret in SECRETS.items():
                if secret.encode() in chunk:
                    found.add(f"{name} in {where}")
    return sorted(found)


def test_no_credential_is_written_anywhere(released_repo: Path) -> None:
    repo = released_repo
    run = retrain_on_drift(repo, 2, **ENVIRONMENT)
    assert "RETRAINED -> v1.1.0" in run.stdout
    assert check_releases(repo)[-1] == "v1.1.0"
    logged = [json.loads(line)["obj"] for log in (repo / ".neptune").rglob("data-1.log")
              for line in log.read_text().splitlines() if line.strip()]
    fields = {(tuple(o.get("path", [])), str(o.get("value"))) for o in logged}
    assert (("run", "requested_mode"), "async") in fields, "tracking did not try to go online with the token"
    assert (("run", "mode"), "offline") in fields, "tracking did not fall back to offline"

    files = {str(p.relative_to(repo.parent)): p.read_bytes() for folder in (repo, store(repo)) for p in folder.rglob("*")
             if p.is_file() and not p.is_symlink()}
    assert any(name.startswith("project/.git/") for name in files) and any(name.startswith("project/.dvc/cache/") for name in files)
    assert any(name.startswith(".dvcstore/") for name in files) and any(name.startswith("project/.neptune/") for name in files)
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True,
                             check=True).stdout
    messages = git("log", "--all", "--format=%H%n%B", cwd=repo).stdout
    tag_messages = git("for-each-ref", "refs/tags", "--format=%(refname)%0a%(contents)", cwd=repo).stdout
    blobs = {**files, "git objects (all, inflated)": objects, "commit messages": messages.encode(),
             "tag messages": tag_messages.encode(), "ct.py stdout": run.stdout.encode(), "ct.py stderr": run.stderr.encode()}
    assert "model@v1.1.0" in tag_messages and "Model-Version: v1.1.0" in messages
    assert _leaks(blobs) == []


def test_the_search_finds_a_planted_secret() -> None:
    """Positive control: a secret inside Parquet, zlib (as joblib and git store it) or plain text is found."""
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"note": [f"x {API_KEY} y"]}).to_parquet(buf, compression="zstd")
    planted = {"parquet": buf.getvalue(), "zlib": zlib.compress(TOKEN.encode() * 3, 6), "text": AWS_SECRET.encode()}
    assert _leaks(planted) == ["api key inside the token in parquet", "remote credential in text", "token in zlib"]
