"""The root schema: composes the domains, nothing else."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.customers.mutations import CustomerMutations
from schema.customers.queries import CustomerQueries
from schema.documents import DocumentCache
from schema.errors import TagValidationErrors, log_errors
from schema.events.queries import EventQueries
from schema.guard import OperationGuard
from schema.limits import (
    ExpansionLimit,
    IntrospectionDepthRule,
    ListCostRule,
    SelectionWidthRule,
)
from schema.observability import NameOperation
from schema.scalars import SCALARS
from schema.shops.mutations import ShopMutations
from schema.shops.queries import ShopQueries
from schema.webhooks.mutations import WebhookMutations
from schema.webhooks.queries import WebhookQueries

MAX_DEPTH = 8
MAX_TOKENS = 2000
MAX_ALIASES = 15


@strawberry.type
class Query(CustomerQueries, EventQueries, WebhookQueries, ShopQueries):
    pass


@strawberry.type
class Mutation(CustomerMutations, WebhookMutations, ShopMutations):
    pass


class FinoraSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry's default logs whole tracebacks and messages; ours logs no values."""
        log_errors(errors)


#: The limit rules are classes made once: the validation cache is keyed on the
#: rules, so rules made per request would never hit it.
_LIMIT_RULES = [
    depth_validator(MAX_DEPTH, None, None),
    aliases_validator(MAX_ALIASES),
    ListCostRule,
    IntrospectionDepthRule,
    SelectionWidthRule,
]


def _limit_rules() -> AddValidationRules:
    return AddValidationRules(_LIMIT_RULES)


def _tokens_limiter() -> MaxTokensLimiter:
    return MaxTokensLimiter(max_token_count=MAX_TOKENS)


def build_schema() -> FinoraSchema:
    """The schema: graphql-core's general path; documents seen before run from a
    compiled plan (schema.compiled, chosen by the view)."""
    return FinoraSchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(disable_field_suggestions=True, scalar_map=SCALARS),
        extensions=[
            ExpansionLimit,
            TagValidationErrors,
            NameOperation,
            OperationGuard,
            _limit_rules,
            _tokens_limiter,
            DocumentCache,
        ],
    )


schema = build_schema()
