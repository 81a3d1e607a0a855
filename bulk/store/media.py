"""Product media gallery entries (`ProductAttributeMediaGalleryManagementInterface`).

The image bytes are checked like Magento's content validator and then dropped: the store keeps
the entry (file name, label, roles), not the picture.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from bulk.db import Prepared, Slot
from bulk.handlers import PermanentError
from bulk.store.models import JSONField, Product, ProductMedia

CONTENT_INVALID = "The image content is invalid. Verify the content and try again."
NOT_BASE64 = "The image content must be valid base64 encoded data."
MIME_UNSUPPORTED = "The image MIME type is not valid or not supported."
NAME_FORBIDDEN = "Provided image name contains forbidden characters."

# The image types Magento accepts, recognised by their first bytes.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
_FILE_NAME = re.compile(r"^[\w.-]+$")
# Entry fields in ProductAttributeMediaGalleryEntryInterface order.
_ENTRY_FIELDS = ("media_type", "label", "position", "disabled", "types", "file")


def create(product: Product, entry: dict[str, Any]) -> int:
    """GalleryManagement::create: validate the image content, store the entry; returns its id."""
    content = entry.get("content")
    if not content:
        raise PermanentError(CONTENT_INVALID)
    name = _checked_name(content)
    _check_image(content.get("base64_encoded_data"))
    stored = {"media_type": "image", "disabled": False, "types": [], **_entry_values(entry)}
    stored["file"] = f"/{name[0]}/{name[1] if len(name) > 1 else '_'}/{name}".lower()
    return ProductMedia.create(product=product, entry=stored).id


def _checked_name(content: dict[str, Any]) -> str:
    name = str(content.get("name") or "").strip()
    if not name or not _FILE_NAME.match(name):
        raise PermanentError(NAME_FORBIDDEN)
    return name


def _check_image(data: Any) -> None:
    try:
        raw = base64.b64decode(str(data or ""), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise PermanentError(NOT_BASE64)
    if not raw.startswith(_SIGNATURES):
        raise PermanentError(MIME_UNSUPPORTED)


def replace_entries(product: Product, entries: list[dict[str, Any]]) -> None:
    """A product save that lists its gallery replaces it (entries keep the files they name)."""
    ProductMedia.delete().where(ProductMedia.product == product).execute()
    for entry in entries:
        ProductMedia.create(product=product, entry={"media_type": "image", "disabled": False, "types": [],
                                                    **_entry_values(entry)})


def _entry_values(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: entry[key] for key in _ENTRY_FIELDS if entry.get(key) is not None}


_ENTRIES_OF = Prepared(lambda: ProductMedia.select(ProductMedia.id, ProductMedia.entry)
                       .where(ProductMedia.product == Slot("product")).order_by(ProductMedia.id))


def entries(product: Product) -> list[dict[str, Any]]:
    """The gallery as Magento lists it: `id` first, then the entry's fields."""
    return [{"id": entry_id, **JSONField().python_value(entry)}
            for entry_id, entry in _ENTRIES_OF.execute(product=product.id).fetchall()]
