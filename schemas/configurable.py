"""Configurable product arguments (`Magento\\ConfigurableProduct\\Api`)."""

from schemas.base import Arguments, Boolean, DataObject, DataObjectList, FreeObject, Integer, MagentoSchema, String

API_DATA = "\\Magento\\ConfigurableProduct\\Api\\Data\\"


class OptionValue(MagentoSchema):
    data_type = API_DATA + "OptionValueInterface"

    value_index = Integer()
    extension_attributes = FreeObject()


class Option(MagentoSchema):
    data_type = API_DATA + "OptionInterface"

    id = Integer()
    attribute_id = String()
    label = String()
    position = Integer()
    is_use_default = Boolean()
    values = DataObjectList(OptionValue)
    extension_attributes = FreeObject()
    product_id = Integer()


class OptionSaveArguments(Arguments):
    """OptionRepositoryInterface::save(string $sku, OptionInterface $option)."""

    sku = String(required=True)
    option = DataObject(Option, required=True)
