"""Names a GraphQL request by what it runs, for logs and metrics.

The name is the operation type and its root fields (``graphql.query.customers``):
field names validated against the schema, never the client's operationName or
any argument, so it carries no PII and has few values.

The extension also leaves the validated document in the request's state (it
runs only once parsing and validation passed), so the view can compile a plan
for it (``schema.compiled``) and store a persisted query (``schema.persisted``).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, FieldNode
from strawberry.extensions import SchemaExtension

#: The request state's entry for the document that passed validation.
VALIDATED_DOCUMENT = "graphql_validated_document"


def operation_label(operation: str, document: DocumentNode | None) -> str:
    fields: set[str] = set()
    for definition in getattr(document, "definitions", ()):
        selection_set = getattr(definition, "selection_set", None)
        if getattr(definition, "operation", None) is not None and selection_set:
            fields |= {s.name.value for s in selection_set.selections if isinstance(s, FieldNode)}
    return f"graphql.{operation}." + "+".join(sorted(fields) or ["-"])


class NameOperation(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        operation = context.operation_type.value if context.operation_type else "unknown"
        request = getattr(context.context, "request", None)
        if request is not None:
            request.state.operation = operation_label(operation, context.graphql_document)
            setattr(request.state, VALIDATED_DOCUMENT, context.graphql_document)
        yield
