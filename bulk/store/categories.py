"""Categories (`CategoryRepositoryInterface`) and product assignments (`CategoryLinkRepositoryInterface`)."""

from __future__ import annotations

from typing import Any

from bulk.db import write_transaction
from bulk.handlers import PermanentError
from bulk.store import products
from bulk.store.errors import no_such_entity
from bulk.store.models import Category, CategoryProduct
from bulk.store.seed import STORE_ROOT_ID, TREE_ROOT_ID, ensure_roots
from bulk.store.values import (
    CUSTOM_ATTRIBUTES,
    as_id,
    column_int,
    custom_attribute_list,
    custom_attribute_map,
    merge_values,
    put,
    without,
)

NAME_EMPTY = 'The "Name" attribute value is empty. Set the attribute and try again.'
COULD_NOT_SAVE = "Could not save category: %1"
CANNOT_DELETE = "Cannot delete category with id %1"
NOT_IN_CATEGORY = "The category doesn't contain the specified product."
# Category fields kept in columns, or computed, rather than in the value document.
_NOT_VALUES = ("id", "parent_id", "position", "level", "children", "created_at", "updated_at", "path")


def find(category_id: Any) -> Category:
    """The category with this id (a number, or numeric text as in CategoryProductLinkInterface)."""
    row_id = as_id(category_id)
    category = None if row_id is None else Category.get_or_none(Category.id == row_id)
    if category is None:
        raise no_such_entity("id", category_id)
    return category


def save(category: dict[str, Any], now: str, category_id: Any = None) -> dict[str, Any]:
    """CategoryRepository::save: update the category with this id, or create one under its parent."""
    changes = without(category, _NOT_VALUES)
    if CUSTOM_ATTRIBUTES in changes:
        changes[CUSTOM_ATTRIBUTES] = custom_attribute_map(changes[CUSTOM_ATTRIBUTES])
    category_id = category.get("id") or category_id
    position = category.get("position")
    if position is not None:
        column_int(position, "position")
    with write_transaction():
        ensure_roots(now)
        if category_id:
            row = find(category_id)
            row.values = merge_values(row.values, changes)
            row.position = category.get("position", row.position) or 0
        else:
            parent = find(category.get("parent_id") or STORE_ROOT_ID)
            row = Category(parent_id=parent.id, path=parent.path, level=parent.level + 1,
                           position=category.get("position") or 0, created_at=now, values=changes)
        if not str(row.values.get("name") or "").strip():
            raise PermanentError(COULD_NOT_SAVE, [NAME_EMPTY])
        row.updated_at = now
        row.save()
        if not category_id:
            row.path = f"{row.path}/{row.id}"
            row.save()
    return output(row)


def delete(category_id: int, now: str) -> bool:
    """CategoryRepository::deleteByIdentifier: the category and its whole subtree."""
    with write_transaction():
        ensure_roots(now)
        row = find(category_id)
        if row.id in (TREE_ROOT_ID, STORE_ROOT_ID):
            raise PermanentError(CANNOT_DELETE, [row.id])
        Category.delete().where((Category.id == row.id) | Category.path.startswith(row.path + "/")).execute()
    return True


def output(row: Category) -> dict[str, Any]:
    """CategoryInterface in Magento's key order."""
    values = row.values
    children = [str(child.id) for child in Category.select(Category.id)
                .where(Category.parent_id == row.id).order_by(Category.position, Category.id)]
    body: dict[str, Any] = {"id": row.id, "parent_id": row.parent_id}
    put(body, "name", values.get("name"))
    put(body, "is_active", values.get("is_active"))
    body["position"] = row.position
    body["level"] = row.level
    body["children"] = ",".join(children)
    body["created_at"] = row.created_at
    body["updated_at"] = row.updated_at
    body["path"] = row.path
    body["available_sort_by"] = values.get("available_sort_by") or []
    put(body, "include_in_menu", values.get("include_in_menu"))
    put(body, "extension_attributes", values.get("extension_attributes"))
    body["custom_attributes"] = custom_attribute_list(values.get(CUSTOM_ATTRIBUTES))
    return body


def assign_product(link: dict[str, Any], category_id: Any, now: str) -> bool:
    """CategoryLinkRepository::save: put the product in the category (or move it to a new position)."""
    with write_transaction():
        ensure_roots(now)
        category = find(link.get("category_id") or category_id)
        product = products.find(link.get("sku") or "")
        position = column_int(link.get("position") or 0, "position")
        (CategoryProduct.insert(category=category, product=product, position=position)
         .on_conflict(conflict_target=[CategoryProduct.category, CategoryProduct.product],
                      update={CategoryProduct.position: position})
         .execute())
    return True


def unassign_product(category_id: int, sku: str, now: str) -> bool:
    """CategoryLinkRepository::deleteByIds."""
    with write_transaction():
        ensure_roots(now)
        category = find(category_id)
        product = products.find(sku)
        removed = (CategoryProduct.delete()
                   .where(CategoryProduct.category == category, CategoryProduct.product == product).execute())
        if not removed:
            raise PermanentError(NOT_IN_CATEGORY)
    return True
