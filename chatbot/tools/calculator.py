"""A safe arithmetic evaluator: the expression is parsed and only numbers, arithmetic and a few functions are
walked. Never `eval`; exponents, integer sizes and the expression's length are bounded so no call can stall the
server (9**9**9 is refused, not computed)."""

from __future__ import annotations

import ast
import math
import operator

MAX_EXPRESSION_CHARS = 500
MAX_DEPTH = 50
MAX_INTEGER_BITS = 4096  # about 1,233 decimal digits
MAX_EXPONENT = 10_000


class CalculatorError(ValueError):
    pass


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil, "log": math.log,
    "log10": math.log10, "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan, "min": min, "max": max,
}  # fmt: skip
_CONSTANTS = {"pi": math.pi, "e": math.e}


def _checked(value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalculatorError("Only numbers can be computed.")
    if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
        raise CalculatorError("The result is too large.")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("The result is not a finite number.")
    return value


def _power(base, exponent):
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"Exponents are limited to ±{MAX_EXPONENT:,}.")
    # An integer power past the size limit is refused before it is computed (9**9**9 would take minutes).
    whole = isinstance(base, int) and isinstance(exponent, int) and exponent > 0
    if whole and max(base.bit_length(), 1) * exponent > MAX_INTEGER_BITS * 2:
        raise CalculatorError("The result is too large.")
    try:
        result = base**exponent
    except OverflowError as exc:
        raise CalculatorError("The result is too large.") from exc
    if isinstance(result, complex):
        raise CalculatorError("The result is not a real number.")
    return result


def _walk(node: ast.AST, depth: int = 0):
    if depth > MAX_DEPTH:
        raise CalculatorError("The expression is nested too deeply.")
    if isinstance(node, ast.Expression):
        return _walk(node.body, depth + 1)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _checked(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_walk(node.operand, depth + 1)))
    if isinstance(node, ast.BinOp):
        left, right = _walk(node.left, depth + 1), _walk(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _checked(_power(left, right))
        if type(node.op) not in _BINARY:
            raise CalculatorError("Only + - * / // % and ** are supported.")
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError as exc:
            raise CalculatorError("Division by zero.") from exc
        except OverflowError as exc:
            raise CalculatorError("The result is too large.") from exc
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords or not node.args or len(node.args) > 10:
            raise CalculatorError(f"{node.func.id}() takes one or a few numbers.")
        arguments = [_walk(argument, depth + 1) for argument in node.args]
        try:
            return _checked(_FUNCTIONS[node.func.id](*arguments))
        except (ValueError, TypeError, OverflowError) as exc:
            raise CalculatorError(f"{node.func.id}() cannot take these values.") from exc
    raise CalculatorError("Only numbers, arithmetic and the functions " + ", ".join(sorted(_FUNCTIONS)) + " work.")


def evaluate(expression: str):
    """The value of an arithmetic expression; CalculatorError for anything else, too big or ill-formed."""
    expression = (expression or "").strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not expression:
        raise CalculatorError("The expression is empty.")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"Expressions are limited to {MAX_EXPRESSION_CHARS} characters.")
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise CalculatorError("The expression could not be read.") from exc
    return _walk(tree)


def formatted(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, float):
        return repr(round(value, 12))
    return str(value)
