"""Names a GraphQL request by what it runs, for logs and metrics.

The name is the operation type and the root fields of the operation that runs
(``graphql.query.customers``): the one named by ``operationName``, or the
document's only operation; other operations in the document do not count.
Field names are validated against the schema; neither the client's
operationName nor any argument enters the name, so it carries no PII and has
few values.

The extension also leaves the validated document in the request's state (it
runs only once parsing and validation passed), so the view can compile a plan
for it (``schema.compiled``, which keeps this name as its label) and store a
persisted query (``schema.persisted``).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from schema.limits import fields_of, fragments_of

#: The request state's entry for the document that passed validation.
VALIDATED_DOCUMENT = "graphql_validated_document"


def running_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) == 1:
        return operations[0]
    return next((o for o in operations if o.name and o.name.value == name), None)


def root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> set[str]:
    """Root field names, fragments at the root included."""
    return {f.name.value for f in fields_of(operation.selection_set, fragments_of(document).get)}


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
            setattr(request.state, VALIDATED_DOCUMENT, document)
        yield
