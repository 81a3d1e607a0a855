"""The admin sign-in lock-out counts failures per (username, client address), so one address cannot
lock the account for everyone; a wrong username costs the same work as a wrong password."""

from __future__ import annotations

import logging
import re

import pytest

from tests.magento import assert_magento_error

SIGN_IN_FAILED = ("The account sign-in was incorrect or your account is disabled temporarily. "
                  "Please wait and try again later.")
TOKEN_URL = "/rest/V1/integration/admin/token"


def attempt(client, address: str, password: str = "admin123", username: str = "admin", **headers):
    return client.post(TOKEN_URL, json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


def fail(client, address: str, times: int, **headers) -> None:
    for _ in range(times):
        assert attempt(client, address, "wrong", **headers).status_code == 401


def test_six_failures_from_one_address_lock_that_address_only(client, clock):
    fail(client, "203.0.113.7", 6)
    assert_magento_error(attempt(client, "203.0.113.7"), 401, SIGN_IN_FAILED)  # right password, locked
    assert attempt(client, "198.51.100.2").status_code == 200  # another address signs in
    clock.advance(30 * 60 + 1)
    assert attempt(client, "203.0.113.7").status_code == 200


def test_failures_further_apart_than_the_lock_time_do_not_add_up(client, clock):
    fail(client, "203.0.113.7", 5)
    clock.advance(30 * 60 + 1)
    fail(client, "203.0.113.7", 5)
    assert attempt(client, "203.0.113.7").status_code == 200


def test_an_ipv6_network_counts_as_one_address(client):
    for host in range(6):  # one client can pick any address in its /64
        assert attempt(client, f"2001:db8:1:2::{host + 1}", "wrong").status_code == 401
    assert attempt(client, "2001:db8:1:2::99").status_code == 401
    assert attempt(client, "2001:db8:1:3::1").status_code == 200


def test_many_addresses_failing_still_lock_the_account_for_everyone(make_app, clock):
    client = make_app(BULK_LOGIN_ACCOUNT_MAX_FAILURES="10").test_client()
    for n in range(10):  # a distributed guesser: two failures from each of five addresses
        assert attempt(client, f"203.0.113.{n // 2}", "wrong").status_code == 401
    assert_magento_error(attempt(client, "198.51.100.2"), 401, SIGN_IN_FAILED)
    clock.advance(30 * 60 + 1)
    assert attempt(client, "198.51.100.2").status_code == 200


def test_the_account_wide_lock_defaults_to_far_more_failures_than_one_address_may_make(client):
    for n in range(15):
        fail(client, f"203.0.113.{n}", 6)
    assert attempt(client, "198.51.100.2").status_code == 200


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(make_app):
    client = make_app().test_client()
    # Not trusted (the default): a client cannot dodge its lock by making addresses up.
    for n in range(6):
        attempt(client, "203.0.113.7", "wrong", **{"X-Forwarded-For": f"192.0.2.{n}"})
    assert attempt(client, "203.0.113.7", **{"X-Forwarded-For": "192.0.2.100"}).status_code == 401
    proxied = make_app(BULK_TRUSTED_PROXIES="10.0.0.0/8").test_client()
    fail(proxied, "10.0.0.5", 6, **{"X-Forwarded-For": "192.0.2.1"})
    assert attempt(proxied, "10.0.0.5", **{"X-Forwarded-For": "192.0.2.1"}).status_code == 401
    assert attempt(proxied, "10.0.0.5", **{"X-Forwarded-For": "192.0.2.2"}).status_code == 200


def _statements(caplog, client, username: str, address: str) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        assert attempt(client, address, "wrong", username=username).status_code == 401
    # The SQL only: the values (names, addresses, counts) differ by nature.
    return [re.sub(r"\s+", " ", str(record.msg[0])) for record in caplog.records
            if record.name == "peewee" and isinstance(record.msg, tuple)]


@pytest.mark.parametrize("address", ["203.0.113.7", "2001:db8::1"])
def test_a_wrong_username_does_the_same_work_as_a_wrong_password(client, caplog, address):
    assert client.get("/health").status_code == 200  # the schema is made by the first request
    for round_ in range(3):  # first failure (inserts), later ones (updates)
        wrong_password = _statements(caplog, client, "admin", address)
        wrong_username = _statements(caplog, client, f"nobody{round_}", address)
        assert wrong_password == wrong_username
        assert any("INSERT" in statement for statement in wrong_password), wrong_password


def test_a_locked_address_records_failures_like_any_other(client, caplog):
    fail(client, "203.0.113.7", 6)
    locked = _statements(caplog, client, "admin", "203.0.113.7")
    assert locked == _statements(caplog, client, "nobody", "203.0.113.7")
    assert any("INSERT" in statement for statement in locked)


def test_housekeeping_forgets_counts_that_no_longer_matter_and_keeps_locks(app, clock):
    from bulk.db import database
    from bulk.models import AdminSignInFailures

    client = app.test_client()
    fail(client, "203.0.113.7", 6)   # locked
    fail(client, "198.51.100.2", 2)  # counted
    service = app.extensions["bulk"]

    def rows() -> set[str]:
        with database.connection_context():
            return {row.address for row in AdminSignInFailures.select() if row.address != "*"}

    clock.advance(29 * 60)
    service.housekeeper.run_once()
    assert rows() == {"203.0.113.7", "198.51.100.2"}
    clock.advance(2 * 60)
    service.housekeeper.run_once()
    assert rows() == set()
