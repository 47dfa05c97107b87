"""The machinery shared by every exercise checker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Case:
    """One call of the student's function and the answer it should give."""

    args: tuple
    expected: Any
    hint: str = ""
    kwargs: dict = field(default_factory=dict)

    def call_text(self, name: str) -> str:
        parts = [_short(a) for a in self.args]
        parts += [f"{k}={_short(v)}" for k, v in self.kwargs.items()]
        return f"{name}({', '.join(parts)})"


def _short(value: Any, limit: int = 120) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # a tensor: its shape says more
        return f"<tensor of shape {tuple(value.shape)}, {value.dtype}>"
    if isinstance(value, tuple) and any(hasattr(v, "shape") for v in value):
        return "(" + ", ".join(_short(v, limit) for v in value) + ")"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_checks(
    name: str,
    function: Callable,
    cases: list[Case],
    same: Callable[[Any, Any], bool] | None = None,
    explain: Callable[[Any, Any], str] | None = None,
) -> None:
    """Call ``function`` on every case; print one success line or raise a friendly error.

    ``same(got, expected)`` decides equality (default ``==``); ``explain(got, expected)``, if
    given, adds a line saying how they differ (e.g. the largest difference of two tensors).
    """
    if not callable(function):
        raise AssertionError(f"{name} should be a function, but it is {type(function).__name__}.")
    same = same or (lambda got, expected: got == expected)
    for number, case in enumerate(cases, start=1):
        call = case.call_text(name)
        try:
            got = function(*case.args, **case.kwargs)
        except NotImplementedError:
            raise AssertionError(
                f"{name} is not written yet: replace `raise NotImplementedError()` with your code."
            ) from None
        except Exception as error:  # the student's code crashed: show where
            raise AssertionError(
                f"Check {number}/{len(cases)}: {call} raised {type(error).__name__}: {error}"
            ) from error
        if not same(got, case.expected):
            message = (
                f"Check {number}/{len(cases)} failed: {call}\n"
                f"  returned: {_short(got, 400)}\n"
                f"  expected: {_short(case.expected, 400)}"
            )
            if explain is not None:
                message += f"\n  difference: {explain(got, case.expected)}"
            if case.hint:
                message += f"\n  hint: {case.hint}"
            raise AssertionError(message)
    print(f"✅ {name}: all {len(cases)} checks passed.")
