"""The user route file (BULK_ROUTES_FILE): its envelope, and argument maps declared in it."""

from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from schemas import base

ARGUMENT_TYPES: dict[str, type[base.MagentoField]] = {
    "string": base.String,
    "int": base.Integer,
    "float": base.Float,
    "bool": base.Boolean,
    "object": base.FreeObject,
    "array": base.FreeList,
    "string[]": base.StringList,
    "mixed": base.Mixed,
}

_SERVICE = re.compile(r"^\\?[A-Za-z_][\w\\]*::\w+$")


class ArgumentDeclaration(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(sorted(ARGUMENT_TYPES)))
    required = fields.Boolean(load_default=False)


class RouteDeclaration(Schema):
    class Meta:
        unknown = RAISE

    method = fields.String(required=True, validate=validate.OneOf(["POST", "PUT", "DELETE"]))
    url = fields.String(required=True, validate=validate.Regexp(r"^/V\d+/"))
    service = fields.String(required=True)
    resources = fields.List(fields.String(validate=validate.Length(min=1)), required=True,
                            validate=validate.Length(min=1))
    implementation = fields.String()
    schema = fields.String(validate=validate.Regexp(r"^[\w.]+:\w+$"))
    arguments = fields.Dict(keys=fields.String(), values=fields.Nested(ArgumentDeclaration))

    @validates("service")
    def _service_shape(self, value: str, **kwargs) -> None:
        if not _SERVICE.match(value):
            raise ValidationError("must look like Vendor\\Module\\Api\\SomeInterface::method")


class RouteFile(Schema):
    class Meta:
        unknown = RAISE

    routes = fields.List(fields.Nested(RouteDeclaration), load_default=list)
    customizations = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


def arguments_schema(name: str, declarations: dict[str, dict]) -> type[base.Arguments]:
    """An Arguments schema class built from `{"sku": {"type": "string", "required": true}}`."""
    declared = {
        argument: ARGUMENT_TYPES[spec["type"]](required=spec["required"])
        for argument, spec in declarations.items()
    }
    return type(name, (base.Arguments,), declared)
