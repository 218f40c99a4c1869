"""The inbox rules on real files (no subprocess): which files are ready, in which order, and that
archiving moves a file without ever overwriting one."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ctml.ct.intake import inbox


@pytest.mark.parametrize(("name", "ready"), [
    ("batch.csv", True), ("orders 2026-12-01.parquet", True), ("no-extension", True),
    (".hidden.csv", False), ("batch.csv.tmp", False), ("batch.csv.part", False), ("batch.partial", False),
    ("README.md", False),  # the inbox's own documentation, shipped with the project
])
def test_a_file_is_ready_unless_it_is_still_being_written(name, ready):
    assert inbox.is_ready(name) is ready


def deliver(root: Path, rel: str, mtime: int, text: str = "a\n1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, ns=(mtime, mtime))
    return path


def test_pending_takes_both_inboxes_oldest_first_then_by_name(tmp_path):
    deliver(tmp_path, "data/incoming/b.csv", 2_000)
    deliver(tmp_path, "data/incoming/a.csv", 2_000)  # same time: by name
    deliver(tmp_path, "data/labels/early.csv", 1_000)
    deliver(tmp_path, "data/incoming/late.parquet", 3_000)
    deliver(tmp_path, "data/incoming/writing.csv.part", 500)
    deliver(tmp_path, "data/incoming/nested/deep.csv", 100)  # only the top level of the folder
    found = inbox.pending(tmp_path)
    assert [(d.kind, d.rel) for d in found] == [("labels", "data/labels/early.csv"), ("batch", "data/incoming/a.csv"),
                                                ("batch", "data/incoming/b.csv"), ("batch", "data/incoming/late.parquet")]
    assert found[1].size == 4 and found[1].path == tmp_path / "data/incoming/a.csv"


def test_no_inbox_folder_is_nothing_pending(tmp_path):
    assert inbox.pending(tmp_path) == []


def test_archive_moves_the_file_beside_its_step_and_hash_and_never_overwrites(tmp_path):
    paths = []
    for text in ("first\n", "second\n"):  # the same name delivered twice, archived under the same step (a re-run)
        deliver(tmp_path, "data/incoming/batch.csv", 1_000, text)
        paths.append(inbox.archive(tmp_path, inbox.pending(tmp_path)[0], 12, "ab" * 32))
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "data/archive/incoming/step-0012.abababababab.batch.csv", "data/archive/incoming/step-0012.abababababab.2.batch.csv"]
    assert [p.read_text() for p in paths] == ["first\n", "second\n"]
    assert inbox.pending(tmp_path) == []


# An operator's worst day, file by file (issue: an inbox that never stalls and never loses a byte).

BAD_UTF8 = os.fsdecode(b"bad-\xff.csv")  # a name with a byte that is not UTF-8, as Linux allows
LONG = "x" * 246 + ".csv"  # 250 bytes: legal, and too long once a step and hash prefix it


def test_any_legal_name_is_archived_under_a_bounded_safe_name(tmp_path):
    for i, name in enumerate((BAD_UTF8, LONG, "tab\there.csv")):
        deliver(tmp_path, f"data/incoming/{name}", 1_000 + i, f"rows {i}\n")
    found = inbox.pending(tmp_path)
    assert [d.rel for d in found] == ["data/incoming/bad-\\xff.csv", f"data/incoming/{LONG}", "data/incoming/tab\there.csv"]
    for step, delivery in enumerate(found, start=1):
        dest = inbox.archive(tmp_path, delivery, step, "cd" * 32)
        assert len(dest.name.encode()) <= 150 and dest.name.isprintable() and dest.read_text() == f"rows {step - 1}\n"
        dest.name.encode("utf-8")  # the archive name is plain UTF-8
    assert inbox.pending(tmp_path) == [] and os.listdir(tmp_path / "data/incoming") == []


def test_safe_name_keeps_the_extension_and_stays_within_its_bound():
    assert inbox.safe_name(BAD_UTF8) == "bad-_.csv"
    assert inbox.safe_name(LONG).endswith("~.csv") and len(inbox.safe_name(LONG).encode()) <= inbox.NAME_BYTES
    assert len(inbox.safe_name("é" * 200 + ".parquet").encode()) <= inbox.NAME_BYTES
    assert inbox.safe_name(".hidden") == "hidden" and inbox.safe_name("\n") == "_"


def test_links_fifos_and_sockets_are_refused_never_opened_and_left_as_they_are(tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("password,1\n")
    folder = tmp_path / "data/incoming"
    folder.mkdir(parents=True)
    (folder / "link.csv").symlink_to(outside)
    (folder / "dangling.csv").symlink_to(tmp_path / "nowhere")
    os.mkfifo(folder / "pipe.csv")  # opening it for reading would block for ever
    deliver(tmp_path, "data/incoming/real.csv", 1_000)
    found, refused = inbox.scan(tmp_path)
    assert [d.rel for d in found] == ["data/incoming/real.csv"]
    assert sorted(refused) == [
        "data/incoming/dangling.csv: a symlink, not a regular file: refused, never opened, left as it is (deliver the file itself)",
        "data/incoming/link.csv: a symlink, not a regular file: refused, never opened, left as it is (deliver the file itself)",
        "data/incoming/pipe.csv: a FIFO, not a regular file: refused, never opened, left as it is (deliver the file itself)"]
    assert all("password" not in line for line in refused)
    assert sorted(os.listdir(folder)) == ["dangling.csv", "link.csv", "pipe.csv", "real.csv"]


def test_a_symlink_swapped_in_after_the_listing_is_not_read(tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("password,1\n")
    path = deliver(tmp_path, "data/incoming/a.csv", 1_000)
    delivery = inbox.pending(tmp_path)[0]
    path.unlink()
    path.symlink_to(outside)
    with pytest.raises(OSError):
        inbox.digest(delivery)
    assert not inbox.unchanged(delivery)


def test_a_file_still_growing_is_not_settled_and_one_that_held_still_is(tmp_path):
    path = deliver(tmp_path, "data/incoming/a.csv", 1_000)
    held = inbox.pending(tmp_path)[0]
    assert inbox.settled(held, 0.0) and inbox.digest(held) == __import__("hashlib").sha256(b"a\n1\n").hexdigest()
    path.write_text("a\n1\n")  # now (a young file), same bytes
    young = inbox.pending(tmp_path)[0]
    assert inbox.settled(young, 0.05)  # waited out the window: nothing changed
    with open(path, "a") as feed:  # a feed writing without a temp name
        feed.write("2\n")
        feed.flush()
        assert not inbox.settled(young, 0.05) and not inbox.unchanged(young)
        with pytest.raises(OSError):
            inbox.digest(young)


def test_an_inbox_on_another_filesystem_is_refused_before_any_step(tmp_path, mount):
    from ctml.errors import UserError

    folder = tmp_path / "data/incoming"
    folder.mkdir(parents=True)
    mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs"], folder)
    deliver(tmp_path, "data/incoming/a.csv", 1_000)
    with pytest.raises(UserError) as refused:
        inbox.check_places(tmp_path)
    assert str(refused.value).startswith("data/incoming: on another filesystem than data/archive/incoming")
    assert "\n" not in str(refused.value) and (folder / "a.csv").read_text() == "a\n1\n"


def test_a_read_only_inbox_is_refused_before_any_step(tmp_path, mount):
    from ctml.errors import UserError

    folder = tmp_path / "data/incoming"
    deliver(tmp_path, "data/incoming/a.csv", 1_000)
    mount(["--bind", str(folder)], folder)
    mount(["-o", "remount,bind,ro"], folder)
    with pytest.raises(UserError) as refused:
        inbox.check_places(tmp_path)
    assert str(refused.value).startswith("data/incoming: read-only") and (folder / "a.csv").exists()


def test_an_inbox_on_the_project_filesystem_passes(tmp_path):
    deliver(tmp_path, "data/incoming/a.csv", 1_000)
    inbox.check_places(tmp_path)
    assert (tmp_path / "data/archive/incoming").is_dir()
