"""An integration's credentials in a test, and OAuth 1.0a signing with oauthlib's client, as real clients sign."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from oauthlib.oauth1 import Client


@dataclass(frozen=True)
class TestIntegration:
    """Credentials of an integration created for a test; `headers()` signs one request."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    id: int
    name: str
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str
    resources: list[str] | str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> TestIntegration:
        return cls(body["id"], body["name"], body["consumer_key"], body["consumer_secret"], body["access_token"],
                   body["access_token_secret"], body["resources"])

    def headers(self, method: str, url: str, signature_method: str = "HMAC-SHA256") -> dict[str, str]:
        """`Authorization: OAuth ...` for `method` on the absolute `url` (query string included); a JSON
        body is not signed. With Flask's test client the URL starts with `http://localhost`."""
        client = Client(self.consumer_key, client_secret=self.consumer_secret,
                        resource_owner_key=self.access_token, resource_owner_secret=self.access_token_secret,
                        signature_method=signature_method)
        _, headers, _ = client.sign(url, http_method=cast(Any, method))
        return {"Authorization": headers["Authorization"]}
