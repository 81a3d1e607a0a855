"""WSGI entry point: `gunicorn app:app` or `flask --app app run`."""

from bulk.factory import create_app

__all__ = ["app", "create_app"]

app = create_app()
