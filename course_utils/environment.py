"""A quick check that the course's environment is complete, one OK / problem line per item."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from importlib import metadata

MIN_PYTHON = (3, 10)

# (import name, distribution name, what it is for)
PACKAGES = (
    ("torch", "torch", "tensors and training"),
    ("numpy", "numpy", "arrays"),
    ("pandas", "pandas", "tables"),
    ("matplotlib", "matplotlib", "plots"),
    ("tqdm", "tqdm", "progress bars"),
    ("ipywidgets", "ipywidgets", "interactive explorers"),
    ("bertviz", "bertviz", "attention views"),
    ("wordfreq", "wordfreq", "English word frequencies, for notebook 01"),
    ("regex", "regex", "GPT-2 pre-tokenization"),
    ("jupyterlab", "jupyterlab", "the notebook app"),
)


@dataclass(frozen=True)
class CheckResult:
    item: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'OK     ' if self.ok else 'PROBLEM'}  {self.item:<11} {self.detail}"


def _package(import_name: str, dist_name: str, purpose: str) -> CheckResult:
    try:
        importlib.import_module(import_name)
    except Exception as error:  # missing or broken install
        return CheckResult(import_name, False, f"cannot import ({error}); needed for {purpose}. "
                           "Reinstall with: pip install -e .")
    try:
        version = metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        version = "unknown version"
    return CheckResult(import_name, True, f"{version} ({purpose})")


def check_environment() -> list[CheckResult]:
    """Check Python, the packages, the device and the scale; return one result per item."""
    results = []
    python_ok = sys.version_info[:2] >= MIN_PYTHON
    results.append(CheckResult(
        "python", python_ok,
        sys.version.split()[0] + ("" if python_ok else
                                  f": the course needs Python >= {MIN_PYTHON[0]}.{MIN_PYTHON[1]}"),
    ))
    results += [_package(*package) for package in PACKAGES]

    from course_utils.config import get_device, scale_name

    try:
        device = get_device()
        results.append(CheckResult("device", True, _describe_device(device)))
    except Exception as error:
        results.append(CheckResult("device", False, str(error)))
    try:
        results.append(CheckResult("scale", True, scale_name()))
    except ValueError as error:
        results.append(CheckResult("scale", False, str(error)))
    return results


def _describe_device(device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads; no GPU found, which is fine for this course)"
    return device.type


def print_environment_report() -> bool:
    """Taught in notebook 00, section 1.
    Print the check's lines and a verdict; return True when everything is OK."""
    results = check_environment()
    for result in results:
        print(result.line())
    problems = [r for r in results if not r.ok]
    print()
    print("All good: you are ready for the course." if not problems
          else f"{len(problems)} problem(s): fix the lines marked PROBLEM, then rerun this cell.")
    return not problems
