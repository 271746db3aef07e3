"""Names a GraphQL request by what it runs, for logs and metrics.

The name is the operation type and the root fields of the operation that runs
(``graphql.query.customers``): the one named by ``operationName``, or the
document's only operation; other operations in the document do not count.
Field names are validated against the schema; neither the client's
operationName nor any argument enters the name, so it carries no PII and has
few values.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension


def running_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) == 1:
        return operations[0]
    return next((o for o in operations if o.name and o.name.value == name), None)


def root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> set[str]:
    """Root field names, fragments at the root included (each fragment visited once)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    seen: set[str] = set()
    fields: set[str] = set()
    pending: list[SelectionSetNode] = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                fields.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    seen.add(name)
                    pending.append(fragments[name].selection_set)
    return fields


class NameOperation(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = running_operation(document, context.operation_name) if document else None
        request = getattr(context.context, "request", None)
        if request is not None:
            if operation is None:
                request.state.operation = "graphql.unknown.-"
            else:
                fields = sorted(root_fields(document, operation)) or ["-"]  # type: ignore[arg-type]
                request.state.operation = f"graphql.{operation.operation.value}." + "+".join(fields)
        yield
