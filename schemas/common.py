"""Data interfaces shared by several areas (`Magento\\Framework\\Api\\AttributeInterface`)."""

from schemas.base import MagentoSchema, Mixed, String


class CustomAttribute(MagentoSchema):
    data_type = "\\Magento\\Framework\\Api\\AttributeInterface"

    attribute_code = String(required=True)
    value = Mixed()
