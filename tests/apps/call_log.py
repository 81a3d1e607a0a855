"""The table where the counting app records every handler call (importable without an app)."""

from __future__ import annotations

import peewee

from bulk.models import BaseModel


class HandlerCall(BaseModel):
    operation_id = peewee.BigIntegerField(index=True)
    pid = peewee.IntegerField()

    class Meta:
        table_name = "test_handler_call"
