"""Tables of the embedded store: the entities the `store` processing mode writes and the reads return.

Magento keeps attributes in EAV tables; here each entity keeps its attribute values as one JSON
document, and only what is looked up or must be unique gets a column of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson
import peewee

from bulk.db import Prepared, Slot
from bulk.models import BaseModel

M = TypeVar("M", bound=BaseModel)


class JSONField(peewee.TextField):
    """A JSON document in a text column (the same on SQLite and PostgreSQL)."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else orjson.dumps(value).decode()

    def python_value(self, value: str | None) -> Any:
        return None if value is None else orjson.loads(value)


class Product(BaseModel):
    """A catalog product; `values` holds its default (admin store, id 0) attribute values."""

    sku = peewee.CharField(max_length=64, unique=True)
    type_id = peewee.CharField(max_length=32)
    attribute_set_id = peewee.IntegerField()
    created_at = peewee.CharField(max_length=19)
    updated_at = peewee.CharField(max_length=19)
    values = JSONField()

    class Meta:
        table_name = "store_product"


class ProductStoreValues(BaseModel):
    """Attribute values a store view overrides (an update sent with that store's code)."""

    product = peewee.ForeignKeyField(Product, on_delete="CASCADE", index=False)
    store_id = peewee.IntegerField()
    values = JSONField()

    class Meta:
        table_name = "store_product_store_values"
        indexes = ((("product", "store_id"), True),)


class ProductMedia(BaseModel):
    """One media gallery entry of a product; the id is the entry id clients see."""

    product = peewee.ForeignKeyField(Product, on_delete="CASCADE")
    entry = JSONField()

    class Meta:
        table_name = "store_product_media"


class StockItem(BaseModel):
    """The legacy stock item of a product (`cataloginventory_stock_item`); the id is `item_id`."""

    product = peewee.ForeignKeyField(Product, on_delete="CASCADE", unique=True)
    values = JSONField()

    class Meta:
        table_name = "store_stock_item"


class SourceItem(BaseModel):
    """MSI quantity of a SKU at a source (`inventory_source_item`, keyed by SKU as in Magento)."""

    sku = peewee.CharField(max_length=64)
    source_code = peewee.CharField(max_length=255)
    quantity = peewee.DoubleField()
    status = peewee.IntegerField()

    class Meta:
        table_name = "store_source_item"
        indexes = ((("sku", "source_code"), True),)


class Category(BaseModel):
    """A category; `path` is the ids from the tree root down to it, joined by `/`."""

    parent_id = peewee.IntegerField(null=True)
    path = peewee.CharField(max_length=255, index=True)
    level = peewee.IntegerField()
    position = peewee.IntegerField(default=0)
    created_at = peewee.CharField(max_length=19)
    updated_at = peewee.CharField(max_length=19)
    values = JSONField()

    class Meta:
        table_name = "store_category"


class CategoryProduct(BaseModel):
    """A product assigned to a category, with its position."""

    category = peewee.ForeignKeyField(Category, on_delete="CASCADE", index=False)
    product = peewee.ForeignKeyField(Product, on_delete="CASCADE")
    position = peewee.IntegerField(default=0)

    class Meta:
        table_name = "store_category_product"
        indexes = ((("category", "product"), True),)


class AttributeOption(BaseModel):
    """An option of a product attribute (`color`: Red, Blue...); the id is the option value."""

    attribute_code = peewee.CharField(max_length=255, index=True)
    label = peewee.CharField(max_length=255)
    sort_order = peewee.IntegerField(default=0)
    is_default = peewee.BooleanField(default=False)
    store_labels = JSONField()

    class Meta:
        table_name = "store_attribute_option"


class Customer(BaseModel):
    """A customer; an email is unique per website (compared case-insensitively, as MySQL does)."""

    email = peewee.CharField(max_length=255)
    email_key = peewee.CharField(max_length=255)
    website_id = peewee.IntegerField()
    # A salted scrypt hash (never the password); null when the account has no password yet.
    password_hash = peewee.CharField(max_length=255, null=True)
    created_at = peewee.CharField(max_length=19)
    updated_at = peewee.CharField(max_length=19)
    values = JSONField()

    class Meta:
        table_name = "store_customer"
        indexes = ((("email_key", "website_id"), True),)


class CustomerAddress(BaseModel):
    """One address of a customer; the id is the address id clients see."""

    customer = peewee.ForeignKeyField(Customer, on_delete="CASCADE")
    values = JSONField()

    class Meta:
        table_name = "store_customer_address"


class SalesOrder(BaseModel):
    """An order entity as `OrderRepositoryInterface::save` stores it; the id is `entity_id`."""

    increment_id = peewee.CharField(max_length=50, unique=True)
    created_at = peewee.CharField(max_length=19)
    updated_at = peewee.CharField(max_length=19)
    values = JSONField()

    class Meta:
        table_name = "store_sales_order"


class Lookup(Generic[M]):
    """A lookup by a condition with `Slot`s, rendered once (bulk.db.Prepared): the drainer runs the
    same few lookups for every operation, and rendering them cost more than running them."""

    def __init__(self, model: type[M], condition: Callable[[], peewee.Expression]) -> None:
        self._model = model
        self._prepared = Prepared(lambda: model.select().where(condition()).limit(1))

    def __call__(self, **values: Any) -> M | None:
        """The first matching row as a model instance, or None."""
        cursor = self._prepared.execute(**values)
        row = cursor.fetchone()
        if row is None:
            return None
        columns = self._model._meta.columns
        fields = [columns[description[0]] for description in cursor.description]
        return self._model(**{field.name: field.python_value(value) for field, value in zip(fields, row, strict=True)})


class Insert(Generic[M]):
    """An insert of every field but the id, rendered once: returns the new row as a model instance."""

    def __init__(self, model: type[M]) -> None:
        self._model = model
        self._fields = [field for field in model._meta.sorted_fields if not isinstance(field, peewee.AutoField)]
        self._prepared = Prepared(lambda: model.insert(
            {field: Slot(field.name, field) for field in self._fields}).returning(model._meta.primary_key))

    def __call__(self, **values: Any) -> M:
        row = self._model(**values)
        # `__data__` holds what the columns get (a foreign key's id, defaults filled in).
        row.id = self._prepared.execute(**{field.name: row.__data__.get(field.name)
                                           for field in self._fields}).fetchone()[0]
        return row


# The lookup every product operation starts with.
product_by_sku = Lookup(Product, lambda: Product.sku == Slot("sku"))

STORE_MODELS: list[type[peewee.Model]] = [
    Product, ProductStoreValues, ProductMedia, StockItem, SourceItem, Category, CategoryProduct,
    AttributeOption, Customer, CustomerAddress, SalesOrder,
]
