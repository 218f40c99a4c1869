"""What every CT step needs, as plain data so tests can build one directly."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctml.config import Params
from ctml.ct.repo import warm
from ctml.ct.repo.warm import StageRun


@dataclass
class Context:
    root: Path
    params: Params
    commit: bool = True  # False: work in the working tree only (no commit, tag or push)
    out: Printer = field(default_factory=lambda: Printer(0))  # progress (-q hides it) and detail (-v shows it)
    pipeline_id: str = "ct"  # groups the command's tracked runs (Neptune tags)
    log: Any = None  # tracking.Run of the CT command
    created: list[str] = field(default_factory=list)  # versions released by this command
    alerter: Any = None  # ctml.ct.webhook.Alerter of the command, made on its first alert
    # Read once per command and passed down (ctml.ct.release): the model tags (tags.Registry, one git
    # call) and the model in production (production.Production); both forgotten when this command
    # tags, promotes or restores (tags.forget), so the next look reads them again.
    registry: Any = None
    production: Any = None

    def alert(self, event: str, text: str, step: int | str = "", version: str = "",
              details: dict[str, Any] | None = None) -> str:
        """Send an alert (ctml.ct.webhook); returns "" or why it was not delivered, for the history note."""
        if self.alerter is None:
            from ctml.ct.webhook import Alerter

            self.alerter = Alerter.from_env(self.root, self.params.alerts)
        return self.alerter.send(event, text, step, version, details)

    def path(self, rel: Path | str) -> Path:
        return self.root / rel

    def say(self, message: str) -> None:
        self.out.progress(message)

    def detail(self, message: str) -> None:
        self.out.detail(message)

    def reproduce(self, targets: tuple[str, ...] = (), step: int | str = "", version: str = "",
                  single_item: bool = False) -> list[StageRun]:
        """`dvc repro TARGETS` for this step, in this process where that is equivalent (ctml.ct.repo.warm)."""
        return warm.reproduce(self.root, targets, self.env(step, version), single_item=single_item,
                              on_run=lambda run: self.detail(run.describe()))

    def env(self, step: int | str, version: str = "") -> dict[str, str]:
        """The tracking environment of a step's stage runs: the command's pipeline id (one per command,
        so going online is tried once per command), the step, and the candidate version."""
        env = {"CT_PIPELINE_ID": self.pipeline_id, "CT_STEP": str(step)}
        if version:
            env["CT_MODEL_VERSION"] = version
        return env


def now() -> str:
    """UTC time of a step as recorded in the history."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Printer:
    """verbosity: 0 quiet (errors and final summary only), 1 normal, 2 verbose."""

    verbosity: int = 1

    def progress(self, message: str) -> None:
        if self.verbosity >= 1:
            print(message, flush=True)

    def detail(self, message: str) -> None:
        if self.verbosity >= 2:
            print(f"  {message}", flush=True)
