"""Every benchmark still imports: a helper renamed in tests/ or ctml/ broke the shadow serving benchmark
once, and nothing ran it until the figures were wanted. Imported in-process; none runs (each guards main)."""
from __future__ import annotations

import importlib

import pytest

from tests.helpers import ROOT

BENCHMARKS = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))


def test_there_are_benchmarks_to_check():
    assert len(BENCHMARKS) >= 10


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_benchmark_imports_and_has_a_main(name: str):
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(getattr(module, "main", None)), f"benchmarks/{name}.py has no main()"
