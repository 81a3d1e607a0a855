"""Secrets at rest: AES-GCM with keys derived from BULK_SECRET_KEY, and keyed digests for look-ups.

Each purpose gets its own key (HKDF with a purpose label) and its own associated data, so a value
sealed for one purpose (an integration's secret) cannot be opened as another (an operation's password).
Changing BULK_SECRET_KEY makes what was sealed unreadable, as it makes tokens invalid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class SealedValueUnreadable(ValueError):
    """A sealed value was made with another key (BULK_SECRET_KEY changed) or was altered."""


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose, derived from the service secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"bulk.{purpose}".encode()).derive(secret)


class SecretBox:
    """Seals text with AES-256-GCM (random nonce) into URL-safe base64 text, and opens it again."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self._aead = AESGCM(derive_key(secret, purpose))
        self._purpose = purpose.encode()

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plaintext.encode(), self._purpose)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._purpose).decode()
        except (InvalidTag, ValueError):
            raise SealedValueUnreadable("the sealed value cannot be opened with this BULK_SECRET_KEY") from None


class Digester:
    """A keyed digest (HMAC-SHA256, hex) to find a record by a secret without storing the secret."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self._keyed = hmac.new(derive_key(secret, purpose), digestmod=hashlib.sha256)

    def __call__(self, value: str) -> str:
        state = self._keyed.copy()
        state.update(value.encode())
        return state.hexdigest()
