"""Assertions shared by the HTTP tests: Magento's error shape, and common requests."""

from __future__ import annotations

from typing import Any

_UNSET = object()


def assert_magento_error(response, status: int, message: str, parameters: Any = _UNSET) -> dict:
    """The response is Magento's error body: JSON, only Magento's keys, the raw message, no trace."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.get_json()
    assert isinstance(body, dict)
    assert set(body) <= {"message", "errors", "code", "parameters"}, body
    assert body["message"] == message, body
    if parameters is _UNSET or parameters is None:
        assert "parameters" not in body, body
    else:
        assert body["parameters"] == parameters, body
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
