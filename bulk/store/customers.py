"""Customers: create accounts, save, delete, read (`AccountManagement`, `CustomerRepository`).

Rules an integration notices, in Magento's order: password strength, then a missing email, then
the email already used in the same website, then the required names. Passwords are kept only
as salted scrypt hashes and never appear in any answer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import peewee

from bulk.db import write_transaction
from bulk.handlers import PermanentError
from bulk.store.errors import no_such_entity
from bulk.store.models import Customer, CustomerAddress
from bulk.store.values import (
    CUSTOM_ATTRIBUTES,
    EXTENSION_ATTRIBUTES,
    column_int,
    column_text,
    custom_attribute_list,
    custom_attribute_map,
    merge_values,
    put,
    without,
)

DUPLICATE_EMAIL = "A customer with the same email address already exists in an associated website."
EMAIL_MISSING = "The customer email is missing. Enter and try again."
ATTRIBUTE_EMPTY = 'The "%1" attribute value is empty. Set the attribute and try again.'
PASSWORD_TOO_LONG = "Please enter a password with at most %1 characters."
PASSWORD_TOO_SHORT = "The password needs at least %1 characters. Create a new password and try again."
PASSWORD_SPACES = "The password can't begin or end with a space. Verify the password and try again."
PASSWORD_IS_EMAIL = "The password can't be the same as the email address. Create a new password and try again."
PASSWORD_CLASSES = ("Minimum of different classes of characters in password is %1. Classes of characters: "
                    "Lower Case, Upper Case, Digits, Special Characters.")
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256
PASSWORD_MIN_CLASSES = 3

DEFAULT_WEBSITE_ID = 1
DEFAULT_GROUP_ID = 1
# Required attributes and the labels Magento's validator names them by.
REQUIRED = (("firstname", "First Name"), ("lastname", "Last Name"))
# Customer fields kept in columns, computed, or never stored, rather than in the value document.
_NOT_VALUES = ("id", "email", "website_id", "created_at", "updated_at", "addresses", "default_billing",
               "default_shipping")
# CustomerInterface output order (after id, group_id, default_billing, default_shipping).
_OUTPUT_FIELDS = ("confirmation", "created_at", "updated_at", "created_in", "dob", "email", "firstname",
                  "lastname", "middlename", "prefix", "suffix", "gender", "store_id", "taxvat", "website_id")
# Cheap enough for bulk loads of test customers (~20 ms each here), still a real KDF.
_SCRYPT = {"n": 2 ** 12, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """A salted scrypt hash: `scrypt$<salt hex>$<hash hex>`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    scheme, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return scheme == "scrypt" and hmac.compare_digest(candidate.hex(), digest)


def check_password(password: str, email: str | None) -> None:
    """AccountManagement::checkPasswordStrength with Magento's default settings."""
    if len(password) > PASSWORD_MAX_LENGTH:
        raise PermanentError(PASSWORD_TOO_LONG, [PASSWORD_MAX_LENGTH])
    if len(password) < PASSWORD_MIN_LENGTH:
        raise PermanentError(PASSWORD_TOO_SHORT, [PASSWORD_MIN_LENGTH])
    if password.strip() != password:
        raise PermanentError(PASSWORD_SPACES)
    classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if classes < PASSWORD_MIN_CLASSES:
        raise PermanentError(PASSWORD_CLASSES, [PASSWORD_MIN_CLASSES])
    if email and password.lower() == email.lower():
        raise PermanentError(PASSWORD_IS_EMAIL)


def find(customer_id: Any) -> Customer:
    customer = Customer.get_or_none(Customer.id == customer_id)
    if customer is None:
        raise no_such_entity("customerId", customer_id)
    return customer


def create_account(customer: dict[str, Any], password: str | None, store_id: int, now: str) -> dict[str, Any]:
    """AccountManagement::createAccount: a new customer (any id sent is ignored)."""
    if password is not None:
        check_password(password, customer.get("email"))
    password_hash = None if password is None else hash_password(password)
    return save({**customer, "id": None}, store_id, now, password_hash=password_hash)


def save(customer: dict[str, Any], store_id: int, now: str, customer_id: Any = None,
         password_hash: str | None = None) -> dict[str, Any]:
    """CustomerRepository::save: update the customer with this id (merging), or create one."""
    customer_id = customer.get("id") or customer_id
    email = column_text(str(customer.get("email") or "").strip(), "email", Customer.email.max_length)
    if customer.get("website_id") is not None:
        column_int(customer["website_id"], "website_id")
    changes = without(customer, _NOT_VALUES)
    if CUSTOM_ATTRIBUTES in changes:
        changes[CUSTOM_ATTRIBUTES] = custom_attribute_map(changes[CUSTOM_ATTRIBUTES])
    with write_transaction():
        if customer_id:
            row = find(customer_id)
            row.values = merge_values(row.values, changes)
            row.email = email or row.email
            row.website_id = customer.get("website_id") or row.website_id
        else:
            values = {"group_id": DEFAULT_GROUP_ID, "store_id": store_id, "disable_auto_group_change": 0, **changes}
            row = Customer(email=email, website_id=customer.get("website_id") or DEFAULT_WEBSITE_ID,
                           created_at=now, values=values)
        _check(row)
        row.email_key = row.email.lower()
        row.updated_at = now
        if password_hash is not None:
            row.password_hash = password_hash
        try:
            with write_transaction():
                row.save()
        except peewee.IntegrityError:
            # Another writer took the email between the check and the insert.
            raise PermanentError(DUPLICATE_EMAIL) from None
        if customer.get("addresses") is not None:
            _replace_addresses(row, customer["addresses"])
    return output(row)


def _check(row: Customer) -> None:
    if not row.email:
        raise PermanentError(EMAIL_MISSING)
    taken = Customer.select().where(Customer.email_key == row.email.lower(), Customer.website_id == row.website_id)
    if row.id is not None:
        taken = taken.where(Customer.id != row.id)
    if taken.exists():
        raise PermanentError(DUPLICATE_EMAIL)
    missing = [label for field, label in REQUIRED if not str(row.values.get(field) or "").strip()]
    if len(missing) == 1:
        raise PermanentError(ATTRIBUTE_EMPTY, missing)
    if missing:
        # Magento's customer validator reports every missing attribute, one per line.
        raise PermanentError("\n".join(ATTRIBUTE_EMPTY.replace("%1", label) for label in missing))


def _replace_addresses(row: Customer, addresses: list[dict[str, Any]]) -> None:
    """Addresses sent replace the stored ones; an address keeps its id when it sends it."""
    stored = {address.id: address for address in CustomerAddress.select().where(CustomerAddress.customer == row)}
    kept: set[int] = set()
    defaults: dict[str, str] = {}
    for address in addresses:
        values = without(address, ("id", "customer_id", "default_billing", "default_shipping"))
        address_id = address.get("id")
        existing = stored.get(address_id) if address_id is not None else None
        if existing is None:
            existing = CustomerAddress.create(customer=row, values=values)
        else:
            existing.values = values
            existing.save()
        kept.add(existing.id)
        for flag in ("default_billing", "default_shipping"):
            if address.get(flag):
                defaults[flag] = str(existing.id)
    CustomerAddress.delete().where(CustomerAddress.customer == row, CustomerAddress.id.not_in(kept or [0])).execute()
    row.values = {**without(row.values, ("default_billing", "default_shipping")), **defaults}
    row.save()


def delete(customer_id: int) -> bool:
    """CustomerRepository::deleteById."""
    with write_transaction():
        find(customer_id).delete_instance()
    return True


def output(row: Customer) -> dict[str, Any]:
    """CustomerInterface in Magento's key order; no password field exists in it."""
    values = row.values
    fields = {**values, "created_at": row.created_at, "updated_at": row.updated_at, "email": row.email,
              "website_id": row.website_id}
    body: dict[str, Any] = {"id": row.id}
    for key in ("group_id", "default_billing", "default_shipping", *_OUTPUT_FIELDS):
        put(body, key, fields.get(key))
    body["addresses"] = [_address_output(address, row)
                         for address in CustomerAddress.select().where(CustomerAddress.customer == row)
                         .order_by(CustomerAddress.id)]
    body["disable_auto_group_change"] = values.get("disable_auto_group_change") or 0
    body[EXTENSION_ATTRIBUTES] = {"is_subscribed": False, **(values.get(EXTENSION_ATTRIBUTES) or {})}
    put(body, CUSTOM_ATTRIBUTES, custom_attribute_list(values.get(CUSTOM_ATTRIBUTES)) or None)
    return body


def _address_output(address: CustomerAddress, customer: Customer) -> dict[str, Any]:
    body = {"id": address.id, "customer_id": customer.id, **address.values}
    for flag in ("default_billing", "default_shipping"):
        if customer.values.get(flag) == str(address.id):
            body[flag] = True
    return body


def search_fields(row: Customer) -> dict[str, Any]:
    """The flat view a search filters on."""
    values = row.values
    return {**(values.get(CUSTOM_ATTRIBUTES) or {}), **without(values, (CUSTOM_ATTRIBUTES, EXTENSION_ATTRIBUTES)),
            "id": row.id, "entity_id": row.id, "email": row.email, "website_id": row.website_id,
            "created_at": row.created_at, "updated_at": row.updated_at}
