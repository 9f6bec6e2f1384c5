"""Questions over a finished sweep: `--where` filters, sorting and top-k.

The filter language is deliberately small and is evaluated by walking its syntax tree, never
by `eval`: column names, numbers, quoted strings, arithmetic (+ - * /), comparisons
(< <= > >= == !=) and `and` / `or` / `not`, with parentheses. Anything else -- function calls,
attributes, subscripts, lambdas -- is refused with a message naming it.
"""

from __future__ import annotations

import ast
import operator

import numpy as np
import pandas as pd

from dse.errors import UserError, unknown

_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv}  # fmt: skip


def _eval(node: ast.AST, df: pd.DataFrame):
    if isinstance(node, ast.Expression):
        return _eval(node.body, df)
    if isinstance(node, ast.BoolOp):
        parts = [_eval(v, df) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = parts[0]
        for p in parts[1:]:
            out = combine(out, p)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return np.logical_not(_eval(node.operand, df))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, df)
    if isinstance(node, ast.Compare):
        left, out = _eval(node.left, df), True
        for op, right_node in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                raise UserError(f"comparison {type(op).__name__} is not allowed in --where")
            right = _eval(right_node, df)
            out = np.logical_and(out, _COMPARE[type(op)](left, right))
            left = right
        return out
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        return _ARITH[type(node.op)](_eval(node.left, df), _eval(node.right, df))
    if isinstance(node, ast.Name):
        if node.id not in df.columns:
            raise unknown("column", node.id, df.columns)
        return df[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return node.value
    raise UserError(
        f"{type(node).__name__} is not allowed in --where: use column names, numbers, "
        "quoted strings, + - * /, comparisons and and/or/not"
    )


def where(df: pd.DataFrame, expression: str) -> pd.DataFrame:
    """Rows of `df` satisfying `expression` (see the module docstring for the language)."""
    #: Nesting levels allowed: ample for a written filter (a 10,000-term `a and b and ...` is
    #: one level), far below Python's recursion limit (1000) that parsing and `_eval` meet.
    max_depth = 100
    too_deep = UserError(
        f"--where is nested too deeply ({len(expression):,} characters); at most {max_depth} "
        "levels of parentheses, operators or `not`"
    )
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise UserError(f"cannot parse --where {expression[:80]!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):  # CPython's parser on deeply nested input
        raise too_deep from None
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise too_deep
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    mask = _eval(tree, df)
    if np.ndim(mask) == 0:
        raise UserError(f"--where {expression!r} does not refer to any column")
    return df[np.asarray(mask, dtype=bool)]


def query(
    df: pd.DataFrame,
    where_expr: str | None = None,
    sort: str | None = None,
    top: int | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Filter, sort (a column name; prefix '-' for descending) and keep the first `top` rows."""
    out = where(df, where_expr) if where_expr else df
    if sort:
        col, ascending = (sort[1:], False) if sort.startswith("-") else (sort, True)
        if col not in out.columns:
            raise unknown("sort column", col, out.columns)
        out = out.sort_values(col, ascending=ascending, kind="stable")
    if top is not None:
        if top < 1:
            raise UserError(f"--top must be >= 1, got {top}")
        out = out.head(top)
    if columns:
        missing = [c for c in columns if c not in out.columns]
        if missing:
            raise unknown("column", missing[0], out.columns)
        out = out[columns]
    return out
