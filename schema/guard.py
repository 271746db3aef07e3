"""What an operation may ask, decided before its variables are coerced.

graphql-core coerces every variable before the first resolver runs, and
Strawberry then converts each input object: work that grows with the variables,
done before a resolver's scope check or a service's 1-500 bound could refuse
anything.  A read-only key sending tens of thousands of bulk rows was answered
FORBIDDEN, after a second of that work each time.  So, between validation
(which does not look at variable values) and execution, with the variables
still the raw JSON, this guard:

1. refuses a mutation from a key that may only read: FORBIDDEN at the first root
   field's path, as the resolver would have (so the answer is the same, HTTP 200);
2. refuses a list variable longer than any list argument allows (``BULK_MAX``):
   BAD_USER_INPUT, before a single item is coerced;
3. makes a bulk find-or-create pay for its rows now (``app.meter.pay_rows``):
   RATE_LIMITED, HTTP 429 with Retry-After, while the key still owes for earlier
   work.  The service pays again (REST has no guard), and rows paid here are not
   paid twice.

A refusal is set as the operation's result, so graphql-core never runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLError,
    ListTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    TypeNode,
)
from strawberry.extensions import SchemaExtension

from app import meter
from app.services.access import require_write
from app.services.errors import BadUserInput, Forbidden, RateLimited
from schema.limits import BULK_FIELD, BULK_MAX, bulk_size, fields_of, fragments_of
from schema.observability import running_operation

#: No list argument of the schema takes more items than a bulk call's inputs.
MAX_LIST_ITEMS = BULK_MAX


def is_list_type(type_node: TypeNode) -> bool:
    if isinstance(type_node, NonNullTypeNode):
        type_node = type_node.type
    return isinstance(type_node, ListTypeNode)


def _too_long(operation: OperationDefinitionNode, variables: dict[str, Any]) -> str | None:
    """The first list variable holding more items than any argument takes."""
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        value = variables.get(name)
        if not is_list_type(definition.type) or not isinstance(value, list):
            continue
        if len(value) > MAX_LIST_ITEMS:
            return name
    return None


def refusal(
    operation: OperationDefinitionNode,
    roots: list[FieldNode],
    variables: dict[str, Any],
    caller: Any,
) -> GraphQLError | None:
    """Why the operation may not run, or None; pays for a bulk call's rows when it may.

    `roots` are the operation's root fields, fragments expanded (``fields_of``): the
    general path (``OperationGuard``) finds them per request, a compiled plan once;
    both ask this same question, so a refusal is the same on both."""
    if operation.operation is OperationType.MUTATION and roots:
        try:
            require_write(caller)
        except Forbidden as exc:
            first = roots[0]
            key = (first.alias or first.name).value
            return GraphQLError(exc.message, first, path=[key], original_error=exc)
    name = _too_long(operation, variables)
    if name is not None:
        error = BadUserInput(
            f"Variable '${name}' holds more than {MAX_LIST_ITEMS} items, "
            f"the most any list argument takes."
        )
        return GraphQLError(error.message, operation, original_error=error)
    rows = sum(bulk_size(field, variables) for field in roots if field.name.value == BULK_FIELD)
    wait = meter.pay_rows(rows) if rows else 0.0
    if wait:
        limited = RateLimited(wait)
        return GraphQLError(limited.message, operation, original_error=limited)
    return None


class OperationGuard(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        caller = getattr(context.context, "caller", None)
        document = context.graphql_document
        if caller is not None and document is not None and not context.result:
            operation = running_operation(document, context.operation_name)
            if operation is not None:
                roots = fields_of(operation.selection_set, fragments_of(document).get)
                error = refusal(operation, roots, context.variables or {}, caller)
                if error is not None:
                    context.result = ExecutionResult(data=None, errors=[error])
        yield
