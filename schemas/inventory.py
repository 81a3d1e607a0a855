"""Inventory arguments: legacy stock items (`Magento\\CatalogInventory\\Api`) and MSI source items."""

from schemas.base import (
    Arguments,
    Boolean,
    DataObject,
    DataObjectList,
    Float,
    FreeObject,
    Integer,
    MagentoSchema,
    String,
)


class StockItem(MagentoSchema):
    data_type = "\\Magento\\CatalogInventory\\Api\\Data\\StockItemInterface"

    item_id = Integer()
    product_id = Integer()
    stock_id = Integer()
    qty = Float()
    is_in_stock = Boolean()
    is_qty_decimal = Boolean()
    show_default_notification_message = Boolean()
    use_config_min_qty = Boolean()
    min_qty = Float()
    use_config_min_sale_qty = Integer()
    min_sale_qty = Float()
    use_config_max_sale_qty = Boolean()
    max_sale_qty = Float()
    use_config_backorders = Boolean()
    backorders = Integer()
    use_config_notify_stock_qty = Boolean()
    notify_stock_qty = Float()
    use_config_qty_increments = Boolean()
    qty_increments = Float()
    use_config_enable_qty_inc = Boolean()
    enable_qty_increments = Boolean()
    use_config_manage_stock = Boolean()
    manage_stock = Boolean()
    low_stock_date = String()
    is_decimal_divided = Boolean()
    stock_status_changed_auto = Integer()
    extension_attributes = FreeObject()


class StockItemUpdateArguments(Arguments):
    """StockRegistryInterface::updateStockItemBySku(string $productSku, StockItemInterface $stockItem)."""

    productSku = String(required=True)
    stockItem = DataObject(StockItem, required=True)


class SourceItem(MagentoSchema):
    data_type = "\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface"

    sku = String()
    source_code = String()
    quantity = Float()
    status = Integer()
    extension_attributes = FreeObject()


class SourceItemsSaveArguments(Arguments):
    """SourceItemsSaveInterface::execute(SourceItemInterface[] $sourceItems)."""

    sourceItems = DataObjectList(SourceItem, required=True)
