"""``derive.expr``: a small, safe expression language over a batch's columns, computed with
Arrow kernels, column at a time.

An expression is parsed with ``ast`` and may hold only field names, number and string
literals, ``+ - * / // % **``, unary ``-``, comparisons (chained too), ``and``/``or``/``not``,
``abs(x)``, ``round(x)``, ``round(x, n)`` and parentheses; anything else (attributes, other
calls, subscripts, lambdas) is refused when it is compiled, so no partner data and no mapping
can make it run code. It means what Python means: ``/`` is true division, ``//`` and ``%``
round toward minus infinity, ``round`` rounds half to even, ``+`` joins two strings.
Integer arithmetic that overflows and division by zero fail instead of giving a wrong value
or infinity. Nulls propagate; ``and``/``or`` follow three-valued logic. Unlike Python, every
part is computed for every record (a column at a time), so ``b != 0 and a // b > 1`` fails
on a record where ``b`` is 0 rather than skipping it.

A failure on a batch's data (a type that does not fit, an overflow) raises ``ExpressionFailed``
naming the part of the expression that failed; ``transform`` turns it into a ``HookError``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from tradelane.errors import ConfigError, HookError

Value = pa.Array | pa.ChunkedArray | pa.Scalar


class ExpressionInvalid(ConfigError):
    """The expression uses something the language does not allow (found when compiling)."""


class ExpressionFailed(HookError):
    """The expression cannot be computed on this batch's values: ``part`` is the piece of
    it that failed, ``error`` what went wrong (a TypeError or an ArithmeticError). The
    transform names the derived field it belongs to."""

    def __init__(self, part: str, error: Exception):
        self.part, self.error = part, error
        super().__init__("the expression", error, where=repr(part))


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, its tree and the field names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, columns: Mapping[str, pa.Array | pa.ChunkedArray], rows: int
                 ) -> pa.Array | pa.ChunkedArray:
        """The expression's value for each of ``rows`` records."""
        value = _Evaluator(self.text, columns).visit(self.tree)
        if isinstance(value, pa.Scalar):  # only literals: the same value for every record
            return pa.repeat(value, rows)
        return value


@cache
def compile_expression(text: str) -> Expression:
    """Parse and check ``text``; raises ExpressionInvalid with what is not allowed."""
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ExpressionInvalid(f"not a valid expression: {exc.msg}") from None
    functions = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names: set[str] = set()
    for node in ast.walk(tree):
        _check(node, source)
        if isinstance(node, ast.Name) and id(node) not in functions:
            names.add(node.id)
    return Expression(source, tree, frozenset(names))


_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ALLOWED = (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call,
            ast.Load, ast.USub, ast.Not, ast.And, ast.Or, *_BINARY, *_COMPARE)


def _check(node: ast.AST, text: str) -> None:
    if not isinstance(node, _ALLOWED):
        what = ast.get_source_segment(text, node) or type(node).__name__
        raise ExpressionInvalid(f"{what!r} is not allowed here (fields, numbers, strings,"
                                " + - * / // % **, comparisons, and/or/not, abs(), round())")
    if isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                           or not isinstance(node.value, int | float | str)):
        raise ExpressionInvalid(f"{node.value!r} is not a number or a string")
    if isinstance(node, ast.Constant) and isinstance(node.value, int) \
            and not -(2**63) <= node.value < 2**63:
        raise ExpressionInvalid(f"{node.value} is too large for a whole number (64 bits)")
    if isinstance(node, ast.Call):
        func = node.func.id if isinstance(node.func, ast.Name) else None
        if func not in ("abs", "round") or node.keywords:
            shown = ast.get_source_segment(text, node.func) or "this"
            raise ExpressionInvalid(f"{shown!r} is not a function here (only abs and round)")
        arity = (1,) if func == "abs" else (1, 2)
        if len(node.args) not in arity:
            raise ExpressionInvalid(f"{func}() takes {' or '.join(map(str, arity))} argument(s)")
        if len(node.args) == 2 and not _integer_literal(node.args[1]):
            raise ExpressionInvalid("round(x, n): n must be a whole number, like 2")


def _integer_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _is_text(value: Value) -> bool:
    return pa.types.is_string(value.type) or pa.types.is_large_string(value.type)


def _is_integer(value: Value) -> bool:
    return pa.types.is_integer(value.type)


def _floor_divide(a: Value, b: Value) -> Value:
    if _is_integer(a) and _is_integer(b):  # exact: truncate, then step down if signs differ
        quotient = pc.divide_checked(a, b)
        inexact = pc.not_equal(pc.multiply_checked(quotient, b), a)
        signs_differ = pc.not_equal(pc.less(a, 0), pc.less(b, 0))
        step = pc.cast(pc.and_(inexact, signs_differ), quotient.type)
        return pc.subtract_checked(quotient, step)
    # as CPython does it, so that 1 // 0.1 is 9.0 (floor(1 / 0.1) would be 10.0): the exact
    # multiple of b below a, divided by b, to the nearest whole number
    exact = pc.divide_checked(pc.subtract(a, pc.modulo_checked(a, b)), b)
    below = pc.floor(exact)
    return pc.if_else(pc.greater(pc.subtract(exact, below), 0.5), pc.add(below, 1.0), below)


def _true_divide(a: Value, b: Value) -> Value:
    # as Python's int / int gives a float however large the ints (Arrow's safe cast refuses
    # integers beyond 2**53, as in 208064 / 208064 ** 3)
    as_float = [pc.cast(v, pa.float64(), safe=False) if _is_integer(v) else v for v in (a, b)]
    return pc.divide_checked(*as_float)


def _add(a: Value, b: Value) -> Value:
    if _is_text(a) and _is_text(b):
        return pc.binary_join_element_wise(a, b, "")
    return pc.add_checked(a, b)


def _round(value: Value, digits: int = 0, *, whole: bool = False) -> Value:
    rounded = pc.round(value, ndigits=digits, round_mode="half_to_even")
    # round(x) is a whole number in Python; so is an integer rounded to n >= 0 places
    return pc.cast(rounded, pa.int64()) if whole and not _is_integer(rounded) else rounded


_OPERATORS: dict[type, tuple[str, Callable[..., Value]]] = {
    ast.Add: ("+", _add), ast.Sub: ("-", pc.subtract_checked),
    ast.Mult: ("*", pc.multiply_checked), ast.Div: ("/", _true_divide),
    ast.FloorDiv: ("//", _floor_divide), ast.Mod: ("%", pc.modulo_checked),
    ast.Pow: ("**", pc.power_checked),
    ast.Eq: ("==", pc.equal), ast.NotEq: ("!=", pc.not_equal), ast.Lt: ("<", pc.less),
    ast.LtE: ("<=", pc.less_equal), ast.Gt: (">", pc.greater),
    ast.GtE: (">=", pc.greater_equal),
    ast.And: ("and", pc.and_kleene), ast.Or: ("or", pc.or_kleene),
}


class _Evaluator:
    def __init__(self, text: str, columns: Mapping[str, pa.Array | pa.ChunkedArray]):
        self.text, self.columns = text, columns

    def visit(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant):
            return pa.scalar(node.value)
        if isinstance(node, ast.Name):
            return self.columns[node.id]
        if isinstance(node, ast.BinOp):
            symbol, func = _OPERATORS[type(node.op)]
            return self._apply(node, symbol, func, self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.USub):
                return self._apply(node, "-", pc.negate_checked, operand)
            return self._apply(node, "not", pc.invert, operand)
        if isinstance(node, ast.BoolOp):
            symbol, func = _OPERATORS[type(node.op)]
            value = self.visit(node.values[0])
            for other in node.values[1:]:
                value = self._apply(node, symbol, func, value, self.visit(other))
            return value
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            result: Value | None = None
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self.visit(right_node)
                symbol, func = _OPERATORS[type(op)]
                test = self._apply(node, symbol, func, left, right)
                result = test if result is None else pc.and_kleene(result, test)
                left = right
            assert result is not None
            return result
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        value = self.visit(node.args[0])
        if node.func.id == "abs":
            return self._apply(node, "abs", pc.abs_checked, value)
        if len(node.args) == 1:
            return self._apply(node, "round", lambda v: _round(v, whole=True), value)
        digits = ast.literal_eval(node.args[1])
        return self._apply(node, "round", lambda v: _round(v, digits), value)

    def _apply(self, node: ast.expr, symbol: str, func: Callable[..., Value],
               *args: Value) -> Value:
        part = ast.get_source_segment(self.text, node) or self.text
        if len(args) == 2 and any(pa.types.is_floating(a.type) for a in args):
            # as in Python, a whole number meets a float as a float, however large it is
            # (Arrow's own cast refuses integers beyond 2**53)
            args = tuple(pc.cast(a, pa.float64(), safe=False) if _is_integer(a) else a
                         for a in args)
        try:
            return func(*args)
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
            types = " and ".join(str(a.type) for a in args)
            raise ExpressionFailed(part, TypeError(
                f"{symbol!r} does not apply to {types}")) from None
        except (pa.ArrowInvalid, ValueError, OverflowError) as exc:  # overflow, divide by zero
            reason = str(exc).split("\n")[0] or type(exc).__name__
            raise ExpressionFailed(part, ArithmeticError(f"{symbol!r}: {reason}")) from None


def column_names(expression: str) -> frozenset[str]:
    """The field names ``expression`` uses (for checks before any data is seen)."""
    return compile_expression(expression).names


__all__ = ["Expression", "ExpressionFailed", "ExpressionInvalid", "column_names",
           "compile_expression"]
