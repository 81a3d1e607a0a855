"""What every Magento installation starts with: the category tree's two roots."""

from __future__ import annotations

from bulk.db import database, is_postgresql, write_transaction
from bulk.store.models import Category

TREE_ROOT_ID = 1
# The store's root category ("Default Category"): where a category without a parent goes.
STORE_ROOT_ID = 2


def ensure_roots(now: str) -> None:
    """Create "Root Catalog" (id 1) and "Default Category" (id 2) in an empty category table."""
    if Category.select().exists():
        return
    with write_transaction():
        if Category.select().exists():
            return
        Category.insert_many([
            {"id": TREE_ROOT_ID, "parent_id": 0, "path": f"{TREE_ROOT_ID}", "level": 0, "created_at": now,
             "updated_at": now, "values": {"name": "Root Catalog", "is_active": True}},
            {"id": STORE_ROOT_ID, "parent_id": TREE_ROOT_ID, "path": f"{TREE_ROOT_ID}/{STORE_ROOT_ID}",
             "level": 1, "created_at": now, "updated_at": now,
             "values": {"name": "Default Category", "is_active": True}},
        ]).execute()
        if is_postgresql():
            # Explicit ids do not move PostgreSQL's sequence; new categories must start after them.
            database.execute_sql("SELECT setval(pg_get_serial_sequence('store_category', 'id'), "
                                 "(SELECT MAX(id) FROM store_category))")
