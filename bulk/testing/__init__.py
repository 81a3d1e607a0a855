"""The service as a test fixture: pytest plugin, live server, failure injection, clock control.

Modules: `fixture` (BulkFixture, one throwaway service), `plugin` (pytest fixtures), `controls`
(drain, wait, recorded operations, reset), `faults` (failure injection), `recorder`, `views` (the
`/V1/testing/...` endpoints), `live` (werkzeug server thread), `server` (the fixture command).
Nothing is imported here, so the service can import `bulk.testing.views` without a cycle.
"""
