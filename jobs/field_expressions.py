"""The mapping language's expressions as the engine of specs' computed fields (`connectors.fields`).

`connectors` and `mappings` never import each other; this module, in the layer above both, joins them.
An expression reads one item's other fields and the pure functions only, never an account's metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.fields import Computed, use_expressions
from mappings.expressions import EvaluationError, ExpressionError, Scope, compile_expression, namespace
from mappings.functions import PURE_FUNCTIONS


class MappingExpressions:
    def compile(self, source: str, names: Mapping[str, str]) -> tuple[Computed | None, list[str]]:
        try:
            expression = compile_expression(source, Scope(dict(names), account_fields=False))
        except ExpressionError as exc:
            return None, list(exc.problems)
        outside = sorted(expression.functions - PURE_FUNCTIONS.keys())
        if outside:
            return None, [
                f"{', '.join(outside)} read(s) an account's metrics, not one item; "
                f"use only {', '.join(sorted(PURE_FUNCTIONS))}"
            ]
        wanted = expression.names

        def run(values: Mapping[str, Any]) -> Any:
            known = {n: values.get(n) for n in wanted}
            try:
                return expression.run(namespace(PURE_FUNCTIONS, known))
            except EvaluationError as exc:
                raise ValueError(str(exc)) from None

        return run, []


def install() -> None:
    use_expressions(MappingExpressions())
