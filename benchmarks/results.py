"""benchmarks/results.md: one section per benchmark, each rewritten in place by its own script."""
from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
HEADER = "# Benchmark results\n\nWritten by the scripts in `benchmarks/`; each section is replaced when its script runs.\n"


def machine_info() -> str:
    """One line that says what machine and software a figure came from."""
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = float("nan")
    return (f"_Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
            f"{mem_gb:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()} {platform.release()}._")


def write_section(title: str, body: str) -> None:
    """Replace (or append) `## title` in results.md, leaving the other sections alone."""
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    block = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    RESULTS.write_text(text.rstrip() + "\n")


def load_line() -> str:
    """The 1/5/15-minute load averages on this many cores: other jobs inflate absolute times."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} cores"
