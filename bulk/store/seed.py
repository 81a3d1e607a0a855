"""What every Magento installation starts with: the category tree's two roots."""

from __future__ import annotations

from bulk.db import write_transaction
from bulk.store.models import Category

TREE_ROOT_ID = 1
# The store's root category ("Default Category"): where a category without a parent goes.
STORE_ROOT_ID = 2


def ensure_roots(now: str) -> None:
    """Create "Root Catalog" (id 1) and "Default Category" (id 2) once, in an empty table."""
    if Category.select().exists():
        return
    with write_transaction():
        if Category.select().exists():
            return
        tree_root = Category.create(parent_id=0, path="", level=0, created_at=now, updated_at=now,
                                    values={"name": "Root Catalog", "is_active": True})
        tree_root.path = str(tree_root.id)
        tree_root.save()
        store_root = Category.create(parent_id=tree_root.id, path="", level=1, created_at=now, updated_at=now,
                                     values={"name": "Default Category", "is_active": True})
        store_root.path = f"{tree_root.path}/{store_root.id}"
        store_root.save()
