"""Comparing tensors (or tuples of tensors) in exercise checks."""

from __future__ import annotations

from typing import Any

import torch


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def tensors_match(got: Any, expected: Any, atol: float = 1e-5) -> bool:
    """True when ``got`` has the shapes, dtypes and (within ``atol``) the values of ``expected``."""
    got, expected = _as_tuple(got), _as_tuple(expected)
    if len(got) != len(expected):
        return False
    for g, e in zip(got, expected):
        if not isinstance(g, torch.Tensor) or g.shape != e.shape:
            return False
        if e.dtype == torch.bool:
            if g.dtype != torch.bool or not torch.equal(g, e):
                return False
        elif not torch.allclose(g.float(), e.float(), atol=atol, rtol=0, equal_nan=False):
            return False
    return True


def explain_tensors(got: Any, expected: Any) -> str:
    """One line on how ``got`` differs from ``expected``."""
    got, expected = _as_tuple(got), _as_tuple(expected)
    if len(got) != len(expected):
        return f"expected {len(expected)} value(s), got {len(got)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        where = f"value {i + 1}: " if len(expected) > 1 else ""
        if not isinstance(g, torch.Tensor):
            return f"{where}expected a tensor, got {type(g).__name__}"
        if g.shape != e.shape:
            return f"{where}shape {tuple(g.shape)}, expected {tuple(e.shape)}"
        if e.dtype == torch.bool and g.dtype != torch.bool:
            return f"{where}dtype {g.dtype}, expected torch.bool (True = may attend)"
        if e.dtype == torch.bool:
            wrong = (g != e).nonzero().tolist()
            if wrong:
                return f"{where}{len(wrong)} entries differ, first at index {wrong[0]}"
        else:
            difference = (g.float() - e.float()).abs()
            if difference.max() > 1e-5:
                index = tuple(int(i) for i in torch.unravel_index(difference.argmax(), difference.shape))
                return f"{where}largest difference {difference.max():.3g} at index {index}"
    return "none found"
