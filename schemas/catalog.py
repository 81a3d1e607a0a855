"""Catalog arguments: products, custom options, category links (`Magento\\Catalog\\Api`)."""

from schemas.base import (
    Arguments,
    Boolean,
    DataObject,
    DataObjectList,
    ExtensionAttributes,
    Float,
    FreeObject,
    Integer,
    MagentoSchema,
    String,
    StringList,
)
from schemas.common import CustomAttributes
from schemas.configurable import Option as ConfigurableOption
from schemas.inventory import StockItem

API_DATA = "\\Magento\\Catalog\\Api\\Data\\"


class ProductLink(MagentoSchema):
    data_type = API_DATA + "ProductLinkInterface"

    sku = String()
    link_type = String()
    linked_product_sku = String()
    linked_product_type = String()
    position = Integer()
    extension_attributes = FreeObject()


class CustomOptionValue(MagentoSchema):
    data_type = API_DATA + "ProductCustomOptionValuesInterface"

    title = String()
    sort_order = Integer()
    price = Float()
    price_type = String()
    sku = String()
    option_type_id = Integer()


class CustomOption(MagentoSchema):
    data_type = API_DATA + "ProductCustomOptionInterface"

    product_sku = String()
    option_id = Integer()
    title = String()
    type = String()
    sort_order = Integer()
    is_require = Boolean()
    price = Float()
    price_type = String()
    sku = String()
    file_extension = String()
    max_characters = Integer()
    image_size_x = Integer()
    image_size_y = Integer()
    values = DataObjectList(CustomOptionValue)
    extension_attributes = FreeObject()


class MediaGalleryEntry(MagentoSchema):
    data_type = API_DATA + "ProductAttributeMediaGalleryEntryInterface"

    id = Integer()
    media_type = String()
    label = String()
    position = Integer()
    disabled = Boolean()
    types = StringList()
    file = String()
    content = FreeObject()
    extension_attributes = FreeObject()


class TierPrice(MagentoSchema):
    data_type = API_DATA + "ProductTierPriceInterface"

    customer_group_id = Integer()
    qty = Float()
    value = Float()
    extension_attributes = FreeObject()


class CategoryLink(MagentoSchema):
    data_type = API_DATA + "CategoryLinkInterface"

    position = Integer()
    category_id = String()
    extension_attributes = FreeObject()


class Product(MagentoSchema):
    data_type = API_DATA + "ProductInterface"

    id = Integer()
    sku = String()
    name = String()
    attribute_set_id = Integer()
    price = Float()
    status = Integer()
    visibility = Integer()
    type_id = String()
    created_at = String()
    updated_at = String()
    weight = Float()
    # The extension attributes the store reads, as Magento_CatalogInventory, Magento_Catalog and
    # Magento_ConfigurableProduct declare them.
    extension_attributes = ExtensionAttributes({
        "stock_item": DataObject(StockItem),
        "category_links": DataObjectList(CategoryLink),
        "configurable_product_options": DataObjectList(ConfigurableOption),
    })
    product_links = DataObjectList(ProductLink)
    options = DataObjectList(CustomOption)
    media_gallery_entries = DataObjectList(MediaGalleryEntry)
    tier_prices = DataObjectList(TierPrice)
    custom_attributes = CustomAttributes()


class CategoryProductLink(MagentoSchema):
    data_type = API_DATA + "CategoryProductLinkInterface"

    sku = String()
    position = Integer()
    category_id = String()
    extension_attributes = FreeObject()


class ProductSaveArguments(Arguments):
    """ProductRepositoryInterface::save(ProductInterface $product, bool $saveOptions = false)."""

    product = DataObject(Product, required=True)
    saveOptions = Boolean(load_default=False)


class ProductUpdateArguments(ProductSaveArguments):
    """`PUT /V1/products/:sku`: save() again; a bulk item may name the SKU beside the product."""

    sku = String()


class ProductDeleteArguments(Arguments):
    """ProductRepositoryInterface::deleteById(string $sku)."""

    sku = String(required=True)


class CustomOptionSaveArguments(Arguments):
    """ProductCustomOptionRepositoryInterface::save(ProductCustomOptionInterface $option)."""

    option = DataObject(CustomOption, required=True)


class CustomOptionDeleteArguments(Arguments):
    """ProductCustomOptionRepositoryInterface::deleteByIdentifier(string $sku, int $optionId)."""

    sku = String(required=True)
    optionId = Integer(required=True)


class CategoryLinkSaveArguments(Arguments):
    """CategoryLinkRepositoryInterface::save(CategoryProductLinkInterface $productLink)."""

    productLink = DataObject(CategoryProductLink, required=True)
    # The URL's category, used when the link itself does not name one.
    categoryId = Integer()


class CategoryLinkDeleteArguments(Arguments):
    """CategoryLinkRepositoryInterface::deleteByIds(int $categoryId, string $sku)."""

    categoryId = Integer(required=True)
    sku = String(required=True)


class BasePrice(MagentoSchema):
    data_type = API_DATA + "BasePriceInterface"

    price = Float()
    store_id = Integer()
    sku = String()
    extension_attributes = FreeObject()


class SpecialPrice(MagentoSchema):
    data_type = API_DATA + "SpecialPriceInterface"

    price = Float()
    store_id = Integer()
    sku = String()
    price_from = String()
    price_to = String()
    extension_attributes = FreeObject()


class StorageTierPrice(MagentoSchema):
    data_type = API_DATA + "TierPriceInterface"

    price = Float()
    price_type = String()
    website_id = Integer()
    sku = String()
    customer_group = String()
    quantity = Float()
    extension_attributes = FreeObject()


class Cost(MagentoSchema):
    data_type = API_DATA + "CostInterface"

    cost = Float()
    store_id = Integer()
    sku = String()
    extension_attributes = FreeObject()


class BasePriceUpdateArguments(Arguments):
    """BasePriceStorageInterface::update(BasePriceInterface[] $prices)."""

    prices = DataObjectList(BasePrice, required=True)


class SpecialPriceUpdateArguments(Arguments):
    """SpecialPriceStorageInterface::update(SpecialPriceInterface[] $prices)."""

    prices = DataObjectList(SpecialPrice, required=True)


class TierPriceUpdateArguments(Arguments):
    """TierPriceStorageInterface::update(TierPriceInterface[] $prices)."""

    prices = DataObjectList(StorageTierPrice, required=True)


class CostUpdateArguments(Arguments):
    """CostStorageInterface::update(CostInterface[] $prices)."""

    prices = DataObjectList(Cost, required=True)


class MediaCreateArguments(Arguments):
    """ProductAttributeMediaGalleryManagementInterface::create(string $sku, ...EntryInterface $entry)."""

    sku = String(required=True)
    entry = DataObject(MediaGalleryEntry, required=True)


class AttributeOptionLabel(MagentoSchema):
    data_type = "\\Magento\\Eav\\Api\\Data\\AttributeOptionLabelInterface"

    store_id = Integer()
    label = String()


class AttributeOption(MagentoSchema):
    data_type = "\\Magento\\Eav\\Api\\Data\\AttributeOptionInterface"

    label = String()
    value = String()
    sort_order = Integer()
    is_default = Boolean()
    store_labels = DataObjectList(AttributeOptionLabel)


class AttributeOptionAddArguments(Arguments):
    """ProductAttributeOptionManagementInterface::add(string $attributeCode, AttributeOptionInterface $option)."""

    attributeCode = String(required=True)
    option = DataObject(AttributeOption, required=True)


class Category(MagentoSchema):
    data_type = API_DATA + "CategoryInterface"

    id = Integer()
    parent_id = Integer()
    name = String()
    is_active = Boolean()
    position = Integer()
    level = Integer()
    children = String()
    created_at = String()
    updated_at = String()
    path = String()
    available_sort_by = StringList()
    include_in_menu = Boolean()
    extension_attributes = FreeObject()
    custom_attributes = CustomAttributes()


class CategorySaveArguments(Arguments):
    """CategoryRepositoryInterface::save(CategoryInterface $category)."""

    category = DataObject(Category, required=True)


class CategoryUpdateArguments(CategorySaveArguments):
    """`PUT /V1/categories/:id`: save() again; a bulk item may name the id beside the category."""

    id = Integer()


class CategoryDeleteArguments(Arguments):
    """CategoryRepositoryInterface::deleteByIdentifier(int $categoryId)."""

    categoryId = Integer(required=True)
