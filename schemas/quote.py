"""Cart arguments (`Magento\\Quote\\Api`)."""

from schemas.base import Arguments, DataObject, Float, FreeObject, Integer, MagentoSchema, String

API_DATA = "\\Magento\\Quote\\Api\\Data\\"


class CartItem(MagentoSchema):
    data_type = API_DATA + "CartItemInterface"

    item_id = Integer()
    sku = String()
    qty = Float()
    name = String()
    price = Float()
    product_type = String()
    quote_id = String()
    product_option = FreeObject()
    extension_attributes = FreeObject()


class CartItemSaveArguments(Arguments):
    """CartItemRepositoryInterface::save(CartItemInterface $cartItem)."""

    cartItem = DataObject(CartItem, required=True)
