"""The encrypted column type.

Tortoise's ``to_python_value`` is not told which row a value belongs to, but
the AAD needs the row id.  So the field hands back the sealed bytes untouched
and a descriptor on the model opens them on first access, with the row's id.
That also makes decryption lazy: a query that never reads ``email`` never
decrypts it.
"""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import FieldError
from tortoise.fields import Field
from tortoise.models import Model

from app import crypto
from app.crypto.datakeys import Generation
from app.models import keyring


class Sealed(bytes):
    """Ciphertext as read from the database, not yet opened."""


class EncryptedField(Field[str]):
    """A text value stored as AES-256-GCM ciphertext (BYTEA).

    It refuses to take part in filters: an equality on ciphertext with a random
    nonce would silently match nothing.  Look rows up through a blind index.
    """

    SQL_TYPE = "BYTEA"
    field_type = bytes
    indexable = False

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("unique") or kwargs.get("db_index"):
            raise FieldError("an encrypted field cannot be indexed; add a blind index instead")
        super().__init__(**kwargs)

    @property
    def column(self) -> str:
        return self.source_field or self.model_field_name

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def to_db_value(self, value: Any, instance: type[Model] | Model) -> bytes | None:
        if not isinstance(instance, Model):
            raise FieldError(
                f"{self.model_field_name} is encrypted and cannot be used in a filter; "
                "use its blind index"
            )
        if value is None:
            return None
        if isinstance(value, Sealed):
            return bytes(value)
        # Under the key the row names (its business's writing key, set by the service
        # that changes it, which loaded the keys: app.models.keyring).
        keys = keyring.loaded(instance.business_id)  # type: ignore[attr-defined]
        generation = keys.generation(instance.key_id)  # type: ignore[attr-defined]
        return self.seal_for(generation, str(instance.pk), str(value))

    def to_python_value(self, value: Any) -> Any:
        if value is None or isinstance(value, str | Sealed):
            return value
        return Sealed(value)

    def seal_for(self, generation: Generation, row_id: str, value: str) -> bytes:
        """Seal a value of the row `row_id` (also for rows written without a model)."""
        return generation.seal(self.table, self.column, row_id, value)

    def open(self, instance: Model, value: bytes) -> str:
        return self.open_for(str(instance.pk), value)

    def open_for(self, row_id: str, value: bytes) -> str:
        """Open a value read without a model instance (bulk reads)."""
        return crypto.current().cipher.open(self.table, self.column, row_id, value)


class _Plaintext:
    """Model attribute for an encrypted field: opens sealed bytes on first read."""

    __slots__ = ("field", "name")

    def __init__(self, name: str, field: EncryptedField) -> None:
        self.name = name
        self.field = field

    def __get__(self, instance: Model | None, owner: type[Model]) -> Any:
        if instance is None:
            return self
        value = instance.__dict__.get(self.name)
        if isinstance(value, Sealed):
            value = self.field.open(instance, value)
            instance.__dict__[self.name] = value
        return value

    def __set__(self, instance: Model, value: Any) -> None:
        instance.__dict__[self.name] = value


class EncryptedModel(Model):
    """Base model that puts a plaintext descriptor on every encrypted field."""

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, field in cls._meta.fields_map.items():
            if isinstance(field, EncryptedField):
                setattr(cls, name, _Plaintext(name, field))

    def sealed(self, name: str) -> bytes | None:
        """The stored ciphertext of a field, if it has not been replaced since loading."""
        value = self.__dict__.get(name)
        return bytes(value) if isinstance(value, Sealed) else None
