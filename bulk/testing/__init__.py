"""The service as a test fixture: pytest plugin, live server, failure injection, clock control.

Modules: `fixture` (BulkFixture, one throwaway service), `plugin` (pytest fixtures), `controls`
(drain, wait, recorded operations, reset), `faults` (failure injection), `recorder`, `views` (the
`/V1/testing/...` endpoints), `extension` (what the factory installs when `BULK_TESTING` is on),
`live` (werkzeug server thread), `server` (the fixture command). Nothing is imported here: pytest
loads `plugin` into every run, and it must stay cheap.
"""
