"""Names a GraphQL request by what it runs, for logs and metrics.

The name is the operation type and its root fields (``graphql.query.customers``):
field names validated against the schema, never the client's operationName or
any argument, so it carries no PII and has few values.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import FieldNode
from strawberry.extensions import SchemaExtension


class NameOperation(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        operation = context.operation_type.value if context.operation_type else "unknown"
        document = context.graphql_document
        fields: set[str] = set()
        for definition in getattr(document, "definitions", ()):
            selection_set = getattr(definition, "selection_set", None)
            if getattr(definition, "operation", None) is not None and selection_set:
                fields |= {
                    s.name.value for s in selection_set.selections if isinstance(s, FieldNode)
                }
        request = getattr(context.context, "request", None)
        if request is not None:
            request.state.operation = f"graphql.{operation}." + "+".join(sorted(fields) or ["-"])
        yield
