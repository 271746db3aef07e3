"""Tortoise models: the only place that knows the tables.

Indexes that Tortoise cannot describe (the partial unique index on
``(business_id, email_hash) WHERE is_active``, the sort index with
``COLLATE "C"``, the GIN indexes of search tokens) are created by the migrations
in ``aerich_migrations/``, and so is ``customer_count``: the number of active
customers per business, in a few slots, kept by triggers on ``customer`` in the
same transaction as every insert, soft delete and restore (read by
app.services.customers.count_active, never written by the application).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.contrib.postgres.fields import ArrayField
from tortoise.models import Model

from app.models.encrypted import EncryptedField, EncryptedModel

__all__ = [
    "ApiKey",
    "Business",
    "BusinessKey",
    "Customer",
    "CustomerEvent",
    "Job",
    "KeyCheck",
    "WebhookDelivery",
    "WebhookEndpoint",
]


class Business(Model):
    id = fields.CharField(primary_key=True, max_length=40)
    name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)
    #: The data key (BusinessKey.id) that seals and indexes the business's writes; NULL:
    #: the legacy scheme, under the master key directly (before ``finora keys migrate``).
    #: Every write checks it in the statement that writes (app.models.keyring.GUARD), so
    #: a change of key is one instant for every process.
    write_key = fields.CharField(max_length=40, null=True)
    #: Whether some of its values may still be under the legacy scheme.
    legacy_values = fields.BooleanField(default=False)
    #: When its data key was destroyed (``finora business offboard``): nothing of it reads.
    offboarded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "business"


class BusinessKey(Model):
    """A business's data key, wrapped under a master key (app.crypto.datakeys).

    Two at most per business: the one writing and, during ``finora keys rotate
    --business``, the one its rows are moving from (or to).  Deleting the rows
    of a business's keys is crypto-shredding: its values, indexes and secrets
    are then unreadable wherever copies of them are.
    """

    id = fields.CharField(primary_key=True, max_length=40)
    business: fields.ForeignKeyRelation[Business] = fields.ForeignKeyField(
        "models.Business", related_name="keys", on_delete=fields.RESTRICT
    )
    #: The master key (FINORA_ENCRYPTION_KEYS id) it is wrapped under.
    master_key_id = fields.CharField(max_length=32)
    wrapped = fields.BinaryField()
    created_at = fields.DatetimeField(auto_now_add=True)

    business_id: str

    class Meta:
        table = "business_key"


class ApiKey(Model):
    """An API key, stored only as a SHA-256 digest (the key itself is random)."""

    id = fields.CharField(primary_key=True, max_length=40)
    business: fields.ForeignKeyRelation[Business] = fields.ForeignKeyField(
        "models.Business", related_name="api_keys", on_delete=fields.RESTRICT
    )
    prefix = fields.CharField(max_length=32, unique=True)
    digest = fields.CharField(max_length=64, unique=True)
    #: write | read | read_masked (app.services.access.Scope).
    scope = fields.CharField(max_length=16, default="write")
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


class Customer(EncryptedModel):
    """A customer of a business. PII columns hold ciphertext only."""

    id = fields.CharField(primary_key=True, max_length=40)
    business: fields.ForeignKeyRelation[Business] = fields.ForeignKeyField(
        "models.Business", related_name="customers", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    #: ``name.lower()`` computed in Python: the sort and search key, so that
    #: order and case folding do not depend on the database's locale.
    name_lower = fields.CharField(max_length=200)
    #: Whether the name is the email's local part (find-or-create's default name):
    #: not PII itself, it tells masked reads to mask the name and masked search to
    #: skip it (app.services.customers.shows_email).  NULL: not known yet (rows
    #: older than the column, until `finora migrate` or `finora reindex` decides).
    name_from_email = fields.BooleanField(null=True)
    #: NULL only once erased (eraseCustomer), like every PII column and index.
    email = EncryptedField(null=True)
    #: HMAC of the normalised email under the index key (see app.crypto.blind).
    email_hash = fields.CharField(max_length=64, null=True)
    phone = EncryptedField(null=True)
    address = EncryptedField(null=True)
    tin = EncryptedField(null=True)
    company_name = fields.CharField(max_length=200, null=True)
    #: Keyed trigram tokens of name and email (app.crypto.tokens); NULL until
    #: indexed, empty once soft-deleted.
    search_tokens = ArrayField("INT", null=True)
    #: Keyed 1- and 2-gram tokens of name and email (app.crypto.tokens), 32 bits;
    #: NULL until indexed, empty once soft-deleted.
    short_tokens = ArrayField("INT", null=True)
    account_balance_kobo = fields.BigIntField(default=0)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    deleted_at = fields.DatetimeField(null=True)
    #: When the customer's personal data was destroyed (eraseCustomer); NULL otherwise.
    erased_at = fields.DatetimeField(null=True)
    #: The data key its values and indexes are under (BusinessKey.id); NULL: legacy.
    key_id = fields.CharField(max_length=40, null=True)

    business_id: str

    class Meta:
        table = "customer"


class KeyCheck(Model):
    """Key check values of the keys this database has seen (never the keys)."""

    key_id = fields.CharField(primary_key=True, max_length=40)
    purpose = fields.CharField(max_length=16)
    kcv = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "key_check"


class Job(Model):
    """Progress of a long maintenance job (reindex, key rotation), so it can resume."""

    name = fields.CharField(primary_key=True, max_length=100)
    cursor = fields.CharField(max_length=100, default="")
    done = fields.BigIntField(default=0)
    total = fields.BigIntField(default=0)
    started_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "job"


class CustomerEvent(Model):
    """One change to a customer (the outbox), written in the transaction of the change.

    No PII: ids, the type, field names, the actor and the time.  ``seq`` gives
    the order (oldest first); ``id`` is the public id and the ``webhook-id``.
    """

    seq = fields.BigIntField(primary_key=True)
    id = fields.CharField(max_length=40, unique=True)
    business_id = fields.CharField(max_length=40)
    customer_id = fields.CharField(max_length=40)
    type = fields.CharField(max_length=16)
    changed_fields = ArrayField("TEXT")
    actor = fields.CharField(max_length=40)
    occurred_at = fields.DatetimeField()

    class Meta:
        table = "customer_event"
        indexes = (("business_id", "seq"), ("business_id", "customer_id", "seq"))


class WebhookEndpoint(EncryptedModel):
    """A business's webhook receiver; its signing secret is encrypted like PII."""

    id = fields.CharField(primary_key=True, max_length=40)
    business: fields.ForeignKeyRelation[Business] = fields.ForeignKeyField(
        "models.Business", related_name="webhook_endpoints", on_delete=fields.RESTRICT
    )
    url = fields.CharField(max_length=2000)
    secret = EncryptedField()
    #: The secret before the last rotation, still signed with until `previous_until`
    #: (both signatures go out meanwhile, as Standard Webhooks allows).
    previous_secret = EncryptedField(null=True)
    previous_until = fields.DatetimeField(null=True)
    event_types = ArrayField("TEXT")
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    #: When a worker last took the endpoint: the least recent goes first (fairness).
    served_at = fields.DatetimeField(null=True)
    deleted_at = fields.DatetimeField(null=True)
    #: The data key its secrets are under (BusinessKey.id); NULL: legacy.
    key_id = fields.CharField(max_length=40, null=True)

    business_id: str

    class Meta:
        table = "webhook_endpoint"


class WebhookDelivery(Model):
    """One event (or a ping) for one endpoint: pending until a 2xx, or failed after the
    last try."""

    id = fields.BigIntField(primary_key=True)
    #: The public id (``whdl_`` + 32 hex digits), made by the database's default.
    uid = fields.CharField(max_length=40, unique=True)
    #: NULL for a ping (webhook.ping), which no event caused.
    event: fields.ForeignKeyNullableRelation[CustomerEvent] = fields.ForeignKeyField(
        "models.CustomerEvent", related_name="deliveries", on_delete=fields.CASCADE, null=True
    )
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    status = fields.CharField(max_length=16, default="pending")
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_status = fields.IntField(null=True)
    last_attempt_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_delivery"
        unique_together = (("event", "endpoint"),)


class ShopConnection(EncryptedModel):
    """A shop (Shopify, WooCommerce) that sends its customers in; its webhook signing
    secret is encrypted like PII."""

    id = fields.CharField(primary_key=True, max_length=40)
    business: fields.ForeignKeyRelation[Business] = fields.ForeignKeyField(
        "models.Business", related_name="shop_connections", on_delete=fields.RESTRICT
    )
    platform = fields.CharField(max_length=16)
    shop_domain = fields.CharField(max_length=300)
    secret = EncryptedField()
    created_at = fields.DatetimeField(auto_now_add=True)
    last_delivery_at = fields.DatetimeField(null=True)
    deleted_at = fields.DatetimeField(null=True)
    #: The data key its secret is under (BusinessKey.id); NULL: legacy.
    key_id = fields.CharField(max_length=40, null=True)

    business_id: str

    class Meta:
        table = "shop_connection"


class ExternalLink(Model):
    """A shop's customer id, linked to one directory customer (unique per connection)."""

    id = fields.BigIntField(primary_key=True)
    connection: fields.ForeignKeyRelation[ShopConnection] = fields.ForeignKeyField(
        "models.ShopConnection", related_name="links", on_delete=fields.RESTRICT
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="external_links", on_delete=fields.CASCADE
    )
    platform = fields.CharField(max_length=16)
    external_id = fields.CharField(max_length=64)
    linked_at = fields.DatetimeField(auto_now_add=True)
    removed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "customer_external_id"
        unique_together = (("connection", "external_id"),)
        indexes = (("customer", "id"),)


class ShopDelivery(Model):
    """A shop delivery applied: its id and signature, so that a repeat changes nothing.

    The signature (an HMAC of the body under the connection's secret) stands for the
    body: a keyed digest, so no unkeyed hash of PII is kept."""

    id = fields.BigIntField(primary_key=True)
    connection_id = fields.CharField(max_length=40)
    delivery_id = fields.CharField(max_length=200)
    signature = fields.CharField(max_length=64)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "shop_delivery"
        unique_together = (("connection_id", "delivery_id", "signature"),)
        indexes = (("received_at",),)


class ShopProblem(Model):
    """What a shop delivery could not apply: the field (contract name) and a code, never
    a value."""

    id = fields.BigIntField(primary_key=True)
    connection_id = fields.CharField(max_length=40)
    occurred_at = fields.DatetimeField()
    topic = fields.CharField(max_length=64)
    external_id = fields.CharField(max_length=64, null=True)
    field = fields.CharField(max_length=32, null=True)
    code = fields.CharField(max_length=16)

    class Meta:
        table = "shop_problem"
        indexes = (("connection_id", "id"),)
