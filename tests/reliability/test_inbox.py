"""The inbox on an operator's worst day, through the real `ct.py check` (git, DVC, Neptune offline):
names no other tool takes, links and FIFOs, a kill while a quarantine alert waits on a webhook that
never answers, a damaged cache object under a rollback, a damaged dvc.lock. Afterwards, always: every
delivered file's bytes exactly once in the archive or the quarantine, the history complete, `git
status` clean, tags and production consistent."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ctml.ct.release.tags import production_version
from tests.helpers import ct, git, history, set_params, sha256, tags, wait_for
from tests.reliability.support import (
    check_history,
    check_releases,
    kill_group,
    park_on_call,
    park_on_git_hook,
    snapshot,
    start_ct,
)
from tests.standins import silent_server

pytestmark = pytest.mark.slow

INCOMING = Path("data/incoming")
BAD_UTF8 = os.fsdecode(b"orders-\xff.csv")
LONG = "o" * 246 + ".csv"  # 250 bytes


def batch(repo: Path, seed: int) -> bytes:
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(60, random_state=seed, replace=True)
    return frame.to_csv(index=False).encode()


def deliver(repo: Path, name: str, content: bytes, mtime_s: float) -> bytes:
    path = repo / INCOMING / name
    path.write_bytes(content)
    os.utime(path, (mtime_s, mtime_s))
    return content


def kept(repo: Path) -> list[bytes]:
    """The bytes of every file in the archive and the quarantine (reasons and dropped rows aside)."""
    places = [repo / "data/archive", repo / "data/quarantine"]
    return [p.read_bytes() for place in places if place.exists() for p in place.rglob("*")
            if p.is_file() and not p.name.endswith((".reason.txt", ".rows.csv"))]


def assert_every_byte_once(repo: Path, delivered: list[bytes]) -> None:
    found = [hashlib.sha256(b).hexdigest() for b in kept(repo)]
    for content in delivered:
        assert found.count(hashlib.sha256(content).hexdigest()) == 1, content[:40]


def assert_clean(repo: Path) -> None:
    assert git("status", "--porcelain", cwd=repo).stdout == ""
    check_history(repo, check_releases(repo))


def test_names_links_and_fifos_never_stall_the_inbox(released_repo, tmp_path):
    repo = released_repo
    outside = tmp_path / "secret.csv"
    outside.write_text("password,hunter2\n")
    delivered = [deliver(repo, BAD_UTF8, batch(repo, 1), 1_000), deliver(repo, LONG, batch(repo, 2), 2_000),
                 deliver(repo, "photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), 3_000)]
    (repo / INCOMING / "link.csv").symlink_to(outside)
    os.mkfifo(repo / INCOMING / "pipe.csv")
    proc = ct(repo, "check", check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # a file quarantined: needs attention
    assert "Traceback" not in proc.stderr and "password" not in proc.stdout + proc.stderr
    refusals = [ln for ln in proc.stderr.splitlines() if "not a regular file" in ln]
    assert len(refusals) == 2 and all(ln.startswith("error: data/incoming/") for ln in refusals)
    rows = history(repo).tail(3)
    assert rows["file"].tolist() == ["data/incoming/orders-\\xff.csv", f"data/incoming/{LONG}", "data/incoming/photo.csv"]
    assert rows["status"].tolist()[:2] != ["failed", "failed"] and rows["status"].tolist()[2] == "quarantined"
    assert rows["file_sha256"].tolist() == [hashlib.sha256(c).hexdigest() for c in delivered]
    assert_every_byte_once(repo, delivered)
    assert sorted(os.listdir(repo / INCOMING)) == ["README.md", "link.csv", "pipe.csv"]  # refused, left as they are
    assert outside.read_text() == "password,hunter2\n"
    kept_files = [p for place in ("data", "metrics") for p in (repo / place).rglob("*") if p.is_file() and not p.is_symlink()]
    assert not [p for p in kept_files if b"hunter2" in p.read_bytes()]  # no reason, record or report source holds it
    assert_clean(repo)
    again = ct(repo, "check", check=False)  # the next look: nothing to do, the refusals said again, no stall
    assert again.returncode == 0 and len([ln for ln in again.stderr.splitlines() if "not a regular file" in ln]) == 2


def test_a_kill_while_a_quarantine_alert_waits_loses_nothing_and_reuses_no_name(released_repo):
    repo = released_repo
    first = deliver(repo, "bad.csv", b"user,amount\n1,x\n", 1_000)
    with silent_server() as url:  # accepts the alert and never answers
        proc = start_ct(repo, "check", CT_ALERT_WEBHOOK=url)
        wait_for(lambda: (repo / "data/quarantine/step-0003.csv").exists(), proc=proc, what="the quarantine move",
                 timeout=300, every=0.002)
        kill_group(proc)
    second = deliver(repo, "bad.csv", b"user,amount\n2,y\n", 2_000)  # the same name again
    proc = ct(repo, "check", check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert_every_byte_once(repo, [first, second])
    reasons = sorted(p.name for p in (repo / "data/quarantine").glob("*.reason.txt"))
    assert len(reasons) == 2 and all((repo / "data/quarantine" / r).read_text().strip() for r in reasons)
    steps = history(repo)
    assert steps["step"].tolist() == list(range(1, len(steps) + 1))  # the killed step has its row: no number reused
    assert_clean(repo)


def assert_rollback_changed_nothing(repo: Path, proc, before: dict, head: str, production: str) -> str:
    """The rollback failed with one line and left everything as it was; returns the line."""
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert snapshot(repo) == before and git("rev-parse", "HEAD", cwd=repo).stdout == head
    assert sha256(repo / "models/production/model.joblib") == production
    assert git("status", "--porcelain", cwd=repo).stdout == ""
    return line


def test_a_rollback_onto_a_damaged_cache_object_changes_nothing(two_versions):
    repo = two_versions
    lock = yaml.safe_load(git("show", "model@v1.0.0:dvc.lock", cwd=repo).stdout)
    md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.joblib")
    obj = repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    obj.chmod(0o644)
    obj.write_bytes(obj.read_bytes()[: obj.stat().st_size // 2])  # truncated in the cache
    before, head = snapshot(repo), git("rev-parse", "HEAD", cwd=repo).stdout
    proc = ct(repo, "rollback", "v1.0.0", check=False)
    line = assert_rollback_changed_nothing(repo, proc, before, head, sha256(repo / "models/production/model.joblib"))
    assert "models/model.joblib" in line and "damaged" in line and "nothing was changed" in line


def test_a_rollback_that_fails_after_its_checks_puts_the_tree_back(two_versions):
    repo = two_versions
    (repo / "data/checked/batch.parquet").write_bytes(b"not a parquet file")  # re-measuring drift will fail
    before, head = snapshot(repo), git("rev-parse", "HEAD", cwd=repo).stdout
    proc = ct(repo, "rollback", "v1.0.0", check=False)
    line = assert_rollback_changed_nothing(repo, proc, before, head, sha256(repo / "models/production/model.joblib"))
    assert "drift" in line
    assert_clean(repo)  # every version's cached model still the one its metadata names


def test_a_damaged_dvc_lock_is_one_line(released_repo):
    repo = released_repo
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: [unclosed\n")
    deliver(repo, "a.csv", batch(repo, 3), 1_000)
    proc = ct(repo, "check", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == [
        next(ln for ln in proc.stderr.splitlines() if ln.startswith("error: dvc.lock: not valid YAML"))]
    assert (repo / INCOMING / "a.csv").exists()  # nothing taken


def drifted(repo: Path, seed: int = 4) -> bytes:
    """Labelled rows moved 3 standard deviations on 15 features: a drift that retrains."""
    training = pd.read_parquet(repo / "data/raw/train.parquet")
    frame = training.sample(200, random_state=seed, replace=True).reset_index(drop=True)
    for name in [c for c in frame.columns if c != "target"][:15]:
        frame[name] = frame[name] + 3.0 * training[name].std()
    return frame.to_csv(index=False).encode()


def test_a_kill_right_after_a_release_commit_leaves_no_release_without_its_row(released_repo):
    repo = released_repo
    content = deliver(repo, "drifted.csv", drifted(repo), 1_000)
    # parked right after its first branch update (here: the release commit)
    reached = park_on_git_hook(repo, "reference-transaction", "[ \"$1\" = committed ] && grep -q ' refs/heads/'")
    proc = start_ct(repo, "check")
    wait_for(reached.exists, proc=proc, what="the release commit", timeout=300)
    kill_group(proc)
    (repo / ".git/hooks/reference-transaction").unlink()
    proc = ct(repo, "check", check=False)
    assert proc.returncode == 0 and "recovery: completed the interrupted release of v1.1.0" in proc.stdout, proc.stdout
    steps = history(repo)
    released = steps[steps["model_version"].astype(str) == "v1.1.0"]
    assert released["status"].tolist()[0] == "retrained"
    assert released["file_sha256"].tolist()[0] == hashlib.sha256(content).hexdigest()
    assert released["step"].tolist() == steps["step"].tolist()[-1:]  # its file archived under it: no second row
    assert_every_byte_once(repo, [content])
    assert os.listdir(repo / INCOMING) == ["README.md"]
    assert_clean(repo)


# Where a step's bookkeeping can be cut: each parks ct.py at the point (before the named operation
# runs) and returns (the file touched on arrival, the environment ct.py needs for it).
BOOKKEEPING = {
    "after its history row, before its archive": lambda repo: park_on_call(repo, "os.rename", "/data/archive/incoming/"),
    "after its archive, before its marker goes": lambda repo: park_on_call(repo, "os.remove", "/.ct/inflight.json"),
    "before the commit that records it": lambda repo: (
        park_on_git_hook(repo, "commit-msg", "grep -q '^ct: record step' \"$1\""), {}),
}


@pytest.mark.parametrize("point", BOOKKEEPING)
def test_a_kill_in_a_steps_bookkeeping_leaves_one_row_per_delivery(released_repo, point):
    repo = released_repo
    content = deliver(repo, "orders.csv", batch(repo, 5), 1_000)
    before_tags, production = tags(repo), (repo / "models/production/model.json").read_text()
    reached, extra_env = BOOKKEEPING[point](repo)
    proc = start_ct(repo, "check", **extra_env)
    wait_for(reached.exists, proc=proc, what=point, timeout=300)
    kill_group(proc)
    (repo / ".git/hooks/commit-msg").unlink(missing_ok=True)
    assert history(repo)["step"].tolist() == [1, 2, 3]  # killed after the step's row was written
    proc = ct(repo, "check", check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    steps = history(repo)
    assert steps["step"].tolist() == [1, 2, 3]  # no step lost, none added: the delivery has its one row
    assert steps["file_sha256"].tolist()[-1] == hashlib.sha256(content).hexdigest()
    assert steps["status"].tolist()[-1] == "ok" and steps["file"].tolist()[-1] == "data/incoming/orders.csv"
    assert_every_byte_once(repo, [content])
    assert os.listdir(repo / INCOMING) == ["README.md"]
    assert tags(repo) == before_tags and (repo / "models/production/model.json").read_text() == production
    assert steps["model_version"].tolist()[-1] == production_version(repo) == "v1.0.0"
    assert_clean(repo)


# A feed that writes a CSV in place, without a temporary name: the header, then a row every `every`
# seconds (the rows of a pool, in order), until a line on its stdin says stop; then it closes the file and prints how many rows
# it wrote. Its own pace is the point: a file still being written is one whose writer wrote within the
# settle window.
WRITER = """
import select, sys
path, pool, every = sys.argv[1], open(sys.argv[2]).read().splitlines(keepends=True), float(sys.argv[3])
header, rows = pool[0], pool[1:]
written = 0
with open(path, "a") as out:
    out.write(header)
    while True:
        out.write(rows[written % len(rows)])
        out.flush()
        written += 1
        if select.select([sys.stdin], [], [], every)[0]:
            break
print(written, flush=True)
"""


def test_a_file_still_being_written_is_taken_only_once_complete(released_repo, tmp_path):
    repo = released_repo
    set_params(repo, ct__settle_s=2.0, ct__watch_interval_s=0.2)  # the writer adds a row 20 times per window
    git("commit", "-qam", "settle 2 s, look every 0.2 s", cwd=repo)
    pool = tmp_path / "rows.csv"
    training = pd.read_parquet(repo / "data/raw/train.parquet")
    pool.write_bytes(training.sample(frac=1, random_state=6).to_csv(index=False).encode())  # rows like production's
    growing = repo / INCOMING / "growing.csv"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(growing), str(pool), "0.1"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    watch = start_ct(repo, "watch")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(watch.stdout), daemon=True)
    reader.start()
    try:
        declined = "data/incoming/growing.csv: still being written"
        wait_for(lambda: sum(declined in ln for ln in lines) >= 2 or watch.poll() is not None, timeout=300,
                 what="two looks that leave the file for later")
        assert watch.poll() is None and writer.poll() is None, "".join(lines)
        assert len(history(repo)) == 2 and growing.exists()  # not taken while it grows
        writer.stdin.write("stop\n")
        total = int(writer.communicate(timeout=60)[0])
        final = growing.read_bytes()
        wait_for(lambda: len(history(repo)) == 3 and not growing.exists() or watch.poll() is not None, timeout=300,
                 what="the step on the finished file")
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=300)
    finally:
        for proc in (writer, watch):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    reader.join(timeout=60)
    out = "".join(lines)
    assert watch.returncode == 0 and out.rstrip().endswith("watch: stopped (SIGTERM)"), out
    assert "changed while" not in out and "changed since" not in out  # never stepped on while it grew
    row = history(repo).iloc[-1]
    assert (row["file"], row["batch_rows"]) == ("data/incoming/growing.csv", total)
    assert row["status"] not in ("failed", "quarantined", "duplicate")
    assert row["file_sha256"] == hashlib.sha256(final).hexdigest()
    [archived] = (repo / "data/archive/incoming").iterdir()
    assert archived.read_bytes() == final and final.count(b"\n") == total + 1
    assert_every_byte_once(repo, [final])
    assert_clean(repo)


@pytest.mark.parametrize("place", ["on another filesystem", "read-only"])
def test_an_inbox_a_file_cannot_leave_is_refused_before_any_step_then_taken_once_fixed(released_repo, tmp_path, mount,
                                                                                        place):
    repo = released_repo
    folder, readme = repo / INCOMING, (repo / INCOMING / "README.md").read_bytes()
    content = batch(repo, 7)
    if place == "read-only":
        deliver(repo, "orders.csv", content, 1_000)
        mount(["--bind", str(folder)], folder)
        mount(["-o", "remount,bind,ro"], folder)
    else:
        mount(["-t", "tmpfs", "-o", "size=4m", "tmpfs"], folder)
        (folder / "README.md").write_bytes(readme)  # as committed: only the delivery is new
        deliver(repo, "orders.csv", content, 1_000)
    before, head = snapshot(repo), git("rev-parse", "HEAD", cwd=repo).stdout
    proc = ct(repo, "check", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert line.startswith(f"error: data/incoming: {place}") and "nothing was processed" in line
    assert snapshot(repo) == before and git("rev-parse", "HEAD", cwd=repo).stdout == head and len(history(repo)) == 2
    assert (folder / "orders.csv").read_bytes() == content and git("status", "--porcelain", cwd=repo).stdout == ""
    if place == "on another filesystem":  # the remedy: deliver into the project's filesystem
        (tmp_path / "orders.csv").write_bytes(content)
    subprocess.run(["umount", str(folder)], check=True)
    if place == "on another filesystem":
        os.replace(tmp_path / "orders.csv", folder / "orders.csv")
    proc = ct(repo, "check", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert history(repo)["file_sha256"].tolist()[-1] == hashlib.sha256(content).hexdigest() and len(history(repo)) == 3
    assert_every_byte_once(repo, [content])
    assert_clean(repo)
