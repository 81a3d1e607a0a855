"""Integrations in tests: create one in a service, sign requests as real clients sign them."""

from __future__ import annotations

import requests
from requests_oauthlib import OAuth1

from bulk.db import database
from bulk.testing.signing import TestIntegration

BASE = "http://localhost"
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
BULK_ACTIONS = "Magento_AsynchronousOperations::system_magento_logging_bulk_operations"


def create_integration(service, name="erp", resources=None) -> TestIntegration:
    with database.connection_context():
        issued = service.integrations.create(name, resources, service.clock.time())
    return TestIntegration.from_json(issued.to_json())


def requests_auth(integration: TestIntegration, signature_method="HMAC-SHA256", **extra) -> OAuth1:
    return OAuth1(integration.consumer_key, integration.consumer_secret, integration.access_token,
                  integration.access_token_secret, signature_method=signature_method, **extra)


def send_signed(client, method, path, auth, json=None, headers=None, base=BASE):
    """Prepare the request with requests (and its OAuth1 auth), then send it through Flask's client."""
    prepared = requests.Request(method, base + path, json=json, auth=auth, headers=headers or {}).prepare()
    url = prepared.url[len(base):]
    # requests-oauthlib leaves the header as bytes; a real HTTP stack sends them as they are.
    sent = {name: value.decode() if isinstance(value, bytes) else value for name, value in prepared.headers.items()}
    return client.open(url, method=method, data=prepared.body, headers=sent)
