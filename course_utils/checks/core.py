"""The machinery shared by every exercise checker.

Three rules, the same for every exercise of the course:

- a failed check shows the call, what came back, what was expected, and a hint that points at
  the idea, never at the code; a line of code is shown only on request, with ``code_hint(name)``;
- the package's own function never passes for the student's: ``run_checks`` refuses any
  function defined inside ``course_utils``, so an exercise left unrun cannot borrow a green tick;
- the reference functions an exercise rebuilds refuse to run while the student's function is
  checked (``run_checks(..., forbid=...)``) and while hidden tests run (``own_work(...)``), so
  a solution that merely calls them fails.
"""

from __future__ import annotations

import functools
import inspect
import math

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

# One line of code per exercise, shown only when a student asks for it with code_hint(name).
# Each checker module registers its own with register_code_hints().
_CODE_HINTS: dict[str, str] = {}


def register_code_hints(hints: dict[str, str]) -> None:
    """Add code hints (exercise name -> one or two lines of code) for ``code_hint``."""
    _CODE_HINTS.update(hints)


def code_hint(name: str) -> None:
    """Taught in notebook 00, section 4.
    Print a line of code for exercise ``name``: the step after the idea hint, on request.

    >>> code_hint("no such exercise")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    KeyError: "no code hint for 'no such exercise'; exercises with one: ..."
    """
    if name not in _CODE_HINTS:
        known = ", ".join(sorted(_CODE_HINTS)) or "none registered yet"
        raise KeyError(f"no code hint for {name!r}; exercises with one: {known}")
    print(f"Code hint for {name}:\n{_CODE_HINTS[name]}")


_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _is_package_function(function: Any) -> bool:
    """True for a function whose code lives in course_utils' files (or a class of its modules),
    also behind a decorator such as ``@torch.no_grad()`` (which keeps ``__wrapped__``)."""
    function = inspect.unwrap(function) if callable(function) else function
    code = getattr(function, "__code__", None)
    if code is not None:
        return Path(code.co_filename).resolve().is_relative_to(_PACKAGE_DIR)
    module = getattr(function, "__module__", None) or ""
    return module.split(".")[0] == "course_utils"


def _refuse_package_function(name: str, function: Any) -> None:
    if _is_package_function(function):
        raise AssertionError(
            f"{name} is the package's own ({function.__module__}), not yours. Run the "
            f"cell where you write {name}, then this check again."
        )


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
        if tuple(value.shape) == () and hasattr(value, "item"):  # a scalar, e.g. a loss: its value
            return f"tensor({value.item():.6g})"
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
    forbid: tuple[Callable, ...] = (),
) -> None:
    """Call ``function`` on every case; print one success line or raise a friendly error.

    ``same(got, expected)`` decides equality (default ``==``); ``explain(got, expected)``, if
    given, adds a line saying how they differ (e.g. the largest difference of two tensors).
    ``forbid`` lists the package's reference functions the exercise rebuilds: they refuse to run
    while the student's function is called (``own_work``), so a thin wrapper around them fails
    here already, not only in the hidden tests.
    """
    if not callable(function):
        raise AssertionError(f"{name} should be a function, but it is {type(function).__name__}.")
    _refuse_package_function(name, function)
    same = same or (lambda got, expected: got == expected)
    with own_work(function, *forbid):
        _run_cases(name, function, cases, same, explain)
    print(f"✅ {name}: all {len(cases)} checks passed.")


def _run_cases(name: str, function: Callable, cases: list[Case], same: Callable,
               explain: Callable | None) -> None:
    for number, case in enumerate(cases, start=1):
        call = case.call_text(name)
        try:
            got = function(*case.args, **case.kwargs)
        except NotImplementedError:
            raise AssertionError(
                f"{name} is not written yet: replace `raise NotImplementedError()` with your code."
            ) from None
        except NotYourOwnWork:
            raise
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
            if name in _CODE_HINTS:
                message += f"\n  still stuck? code_hint({name!r}) shows a line of code"
            raise AssertionError(message)


class NotYourOwnWork(AssertionError):
    """Raised when a solution calls a package function that the exercise asks to build."""


def fail(message: str, hint: str = "") -> None:
    """Raise the ``AssertionError`` a checker reports: the message, then a hint in words."""
    raise AssertionError(message + (f"\n  hint: {hint}" if hint else ""))


def within(what: str, rate: float, target: float, n: int, hint: str, unit: str = "") -> None:
    """Fail unless ``rate`` (a share of ``n`` draws) is within 4 standard errors of ``target``."""
    se = math.sqrt(target * (1 - target) / n)
    if abs(rate - target) > 4 * se:
        fail(f"{what}: {rate:.3f} over {n}{unit}, expected {target:.3f} ± {4 * se:.3f}", hint)


def checker(name: str) -> Callable[[Callable], Callable]:
    """Wrap a checker of exercise ``name``: refuse a non-function and the package's own function,
    and end every failure (but "not written yet" and ``NotYourOwnWork``) with the ``code_hint``."""

    def wrap(check: Callable) -> Callable:
        @functools.wraps(check)
        def checked(function: Callable) -> None:
            if not callable(function):
                raise AssertionError(f"{name} should be a function, but it is {type(function).__name__}.")
            _refuse_package_function(name, function)
            try:
                check(function)
            except NotYourOwnWork:
                raise
            except AssertionError as error:
                if "not written yet" in str(error):
                    raise
                raise AssertionError(f"{error}\n  still stuck? code_hint({name!r}) shows a line "
                                     f"of code") from None
        return checked

    return wrap


@contextmanager
def own_work(student_function: Callable, *package_parts: Callable) -> Iterator[None]:
    """Taught in notebook 00, section 4.
    Within the block, the package's functions and classes in ``package_parts`` refuse to run.

    For hidden tests: a solution that merely calls the package fails inside the block, however it
    reaches the package (imported under any name, through its module, a default argument, a
    ``functools.partial``, a subclass). A function's code is swapped for one that raises; a
    class's ``__init__`` is. Everything is restored when the block ends, also on an error.

    >>> from course_utils.tokenization import merge_pair
    >>> def lazy(symbols, pair, merge=merge_pair):
    ...     return merge(symbols, pair)
    >>> with own_work(lazy, merge_pair):
    ...     lazy(("a", "b"), ("a", "b"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    course_utils.checks.core.NotYourOwnWork: lazy calls the package's merge_pair; write it yourself...
    >>> lazy(("a", "b"), ("a", "b"))  # restored after the block
    ('ab',)
    """
    name = getattr(student_function, "__name__", "your function")
    _refuse_package_function(name, student_function)
    restore: list[Callable[[], None]] = []
    try:
        for part in package_parts:
            message = (f"{name} calls the package's {part.__qualname__}; write it yourself (the "
                       f"exercise is to build what {part.__qualname__} does).")
            restore.append(_disable(part, message))
        yield
    finally:
        for undo in reversed(restore):
            undo()


def _disable(part: Any, message: str) -> Callable[[], None]:
    """Make ``part`` (a plain function or a class) raise ``message``; return how to undo it."""
    namespace: dict[str, Any] = {}
    # The swapped-in code runs with the package module's globals, so it finds the error class
    # through __import__ (a builtin) rather than by a name that module may not have.
    exec("def refuse(*args, **kwargs):\n"
         "    core = __import__('course_utils.checks.core', fromlist=['NotYourOwnWork'])\n"
         f"    raise core.NotYourOwnWork({message!r})", namespace)
    refuse = namespace["refuse"]
    if not isinstance(part, type):
        part = inspect.unwrap(part)  # a decorated function: disable the function it wraps
    if isinstance(part, type):
        had_own = "__init__" in vars(part)
        original_init = vars(part).get("__init__")
        part.__init__ = refuse

        def undo() -> None:
            if had_own:
                part.__init__ = original_init
            else:
                del part.__init__
        return undo
    code = getattr(part, "__code__", None)
    if code is None or code.co_freevars:
        raise TypeError(f"own_work can disable plain functions and classes, not {part!r}")
    part.__code__ = refuse.__code__

    def undo() -> None:
        part.__code__ = code
    return undo
