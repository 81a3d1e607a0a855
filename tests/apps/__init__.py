"""WSGI apps used by tests that start real server processes."""
