"""The routes every installation has, as declared in Magento's webapi.xml files."""

from __future__ import annotations

from bulk.routes.catalogue import ANONYMOUS, Catalogue, Route
from bulk.routes.paths import RouteTemplate
from schemas import catalog, cms, configurable, customer, inventory, quote, sales

PRODUCT_REPOSITORY = "Magento\\Catalog\\Api\\ProductRepositoryInterface"
CUSTOM_OPTION_REPOSITORY = "Magento\\Catalog\\Api\\ProductCustomOptionRepositoryInterface"
CATEGORY_LINK_REPOSITORY = "Magento\\Catalog\\Api\\CategoryLinkRepositoryInterface"
ACCOUNT_MANAGEMENT = "Magento\\Customer\\Api\\AccountManagementInterface"
CUSTOMER_REPOSITORY = "Magento\\Customer\\Api\\CustomerRepositoryInterface"
CART_ITEM_REPOSITORY = "Magento\\Quote\\Api\\CartItemRepositoryInterface"
CATEGORY_REPOSITORY = "Magento\\Catalog\\Api\\CategoryRepositoryInterface"
ORDER_REPOSITORY = "Magento\\Sales\\Api\\OrderRepositoryInterface"

CATALOG_PRODUCTS = ("Magento_Catalog::products",)
CATALOG_CATEGORIES = ("Magento_Catalog::categories",)
CATALOG = ("Magento_Catalog::catalog",)
PRICE_MODEL = "Magento\\Catalog\\Model\\Product\\Price\\"

# Magento's WebapiAsync route_customization.xml.
CUSTOMIZATIONS = {"asyncProducts": "async/V1/products"}


def _route(method: str, url: str, service: str, **kwargs) -> Route:
    service_class, _, service_method = service.partition("::")
    return Route(method=method, template=RouteTemplate(url), service_class=service_class,
                 service_method=service_method, **kwargs)


def builtin_routes() -> list[Route]:
    return [
        _route("POST", "/V1/products", f"{PRODUCT_REPOSITORY}::save",
               resources=CATALOG_PRODUCTS, schema=catalog.ProductSaveArguments),
        _route("PUT", "/V1/products/:sku", f"{PRODUCT_REPOSITORY}::save",
               resources=CATALOG_PRODUCTS, schema=catalog.ProductUpdateArguments),
        _route("DELETE", "/V1/products/:sku", f"{PRODUCT_REPOSITORY}::deleteById",
               resources=CATALOG_PRODUCTS, schema=catalog.ProductDeleteArguments),
        _route("POST", "/V1/products/options", f"{CUSTOM_OPTION_REPOSITORY}::save",
               resources=CATALOG, schema=catalog.CustomOptionSaveArguments,
               implementation="Magento\\Catalog\\Model\\Product\\Option\\Repository\\Interceptor"),
        _route("PUT", "/V1/products/options/:optionId", f"{CUSTOM_OPTION_REPOSITORY}::save",
               resources=CATALOG, schema=catalog.CustomOptionSaveArguments,
               implementation="Magento\\Catalog\\Model\\Product\\Option\\Repository\\Interceptor"),
        _route("DELETE", "/V1/products/:sku/options/:optionId",
               f"{CUSTOM_OPTION_REPOSITORY}::deleteByIdentifier",
               resources=CATALOG, schema=catalog.CustomOptionDeleteArguments,
               implementation="Magento\\Catalog\\Model\\Product\\Option\\Repository\\Interceptor"),
        _route("POST", "/V1/categories/:categoryId/products", f"{CATEGORY_LINK_REPOSITORY}::save",
               resources=CATALOG_CATEGORIES, schema=catalog.CategoryLinkSaveArguments),
        _route("DELETE", "/V1/categories/:categoryId/products/:sku",
               f"{CATEGORY_LINK_REPOSITORY}::deleteByIds",
               resources=CATALOG_CATEGORIES, schema=catalog.CategoryLinkDeleteArguments),
        _route("POST", "/V1/customers", f"{ACCOUNT_MANAGEMENT}::createAccount",
               resources=(ANONYMOUS,), schema=customer.CustomerCreateArguments,
               restricted_fields={"customer.group_id": "Magento_Customer::manage"}),
        _route("PUT", "/V1/customers/:customerId", f"{CUSTOMER_REPOSITORY}::save",
               resources=("Magento_Customer::manage",), schema=customer.CustomerSaveArguments,
               implementation="Magento\\Customer\\Model\\ResourceModel\\CustomerRepository\\Interceptor"),
        _route("DELETE", "/V1/customers/:customerId", f"{CUSTOMER_REPOSITORY}::deleteById",
               resources=("Magento_Customer::delete",), schema=customer.CustomerDeleteArguments,
               implementation="Magento\\Customer\\Model\\ResourceModel\\CustomerRepository\\Interceptor"),
        _route("POST", "/V1/carts/:quoteId/items", f"{CART_ITEM_REPOSITORY}::save",
               resources=("Magento_Cart::manage",), schema=quote.CartItemSaveArguments,
               implementation="Magento\\Quote\\Model\\Quote\\Item\\Repository\\Interceptor"),
        # Prices, media, inventory and options: the routes integrations bulk-load most.
        _route("POST", "/V1/products/base-prices", "Magento\\Catalog\\Api\\BasePriceStorageInterface::update",
               resources=CATALOG, schema=catalog.BasePriceUpdateArguments,
               implementation=PRICE_MODEL + "BasePriceStorage"),
        _route("POST", "/V1/products/special-price", "Magento\\Catalog\\Api\\SpecialPriceStorageInterface::update",
               resources=CATALOG, schema=catalog.SpecialPriceUpdateArguments,
               implementation=PRICE_MODEL + "SpecialPriceStorage"),
        _route("POST", "/V1/products/tier-prices", "Magento\\Catalog\\Api\\TierPriceStorageInterface::update",
               resources=CATALOG, schema=catalog.TierPriceUpdateArguments,
               implementation=PRICE_MODEL + "TierPriceStorage"),
        _route("POST", "/V1/products/cost", "Magento\\Catalog\\Api\\CostStorageInterface::update",
               resources=CATALOG, schema=catalog.CostUpdateArguments,
               implementation=PRICE_MODEL + "CostStorage"),
        _route("POST", "/V1/products/:sku/media",
               "Magento\\Catalog\\Api\\ProductAttributeMediaGalleryManagementInterface::create",
               resources=CATALOG, schema=catalog.MediaCreateArguments,
               implementation="Magento\\Catalog\\Model\\Product\\Gallery\\GalleryManagement"),
        _route("PUT", "/V1/products/:productSku/stockItems/:itemId",
               "Magento\\CatalogInventory\\Api\\StockRegistryInterface::updateStockItemBySku",
               resources=("Magento_CatalogInventory::cataloginventory",), schema=inventory.StockItemUpdateArguments,
               implementation="Magento\\CatalogInventory\\Model\\StockRegistry"),
        _route("POST", "/V1/inventory/source-items", "Magento\\InventoryApi\\Api\\SourceItemsSaveInterface::execute",
               resources=("Magento_InventoryApi::stock_source_item_assign",),
               schema=inventory.SourceItemsSaveArguments,
               implementation="Magento\\Inventory\\Model\\SourceItem\\Command\\SourceItemsSave"),
        _route("POST", "/V1/configurable-products/:sku/options",
               "Magento\\ConfigurableProduct\\Api\\OptionRepositoryInterface::save",
               resources=CATALOG_PRODUCTS, schema=configurable.OptionSaveArguments,
               implementation="Magento\\ConfigurableProduct\\Model\\OptionRepository"),
        _route("POST", "/V1/products/attributes/:attributeCode/options",
               "Magento\\Catalog\\Api\\ProductAttributeOptionManagementInterface::add",
               resources=("Magento_Catalog::attributes_attributes",), schema=catalog.AttributeOptionAddArguments,
               implementation="Magento\\Catalog\\Model\\Product\\Attribute\\OptionManagement"),
        # Categories, orders, CMS.
        _route("POST", "/V1/categories", f"{CATEGORY_REPOSITORY}::save",
               resources=CATALOG_CATEGORIES, schema=catalog.CategorySaveArguments),
        _route("PUT", "/V1/categories/:id", f"{CATEGORY_REPOSITORY}::save",
               resources=CATALOG_CATEGORIES, schema=catalog.CategoryUpdateArguments),
        _route("DELETE", "/V1/categories/:categoryId", f"{CATEGORY_REPOSITORY}::deleteByIdentifier",
               resources=CATALOG_CATEGORIES, schema=catalog.CategoryDeleteArguments),
        _route("POST", "/V1/orders", f"{ORDER_REPOSITORY}::save",
               resources=("Magento_Sales::api_actions",), schema=sales.OrderSaveArguments),
        _route("DELETE", "/V1/cmsPage/:pageId", "Magento\\Cms\\Api\\PageRepositoryInterface::deleteById",
               resources=("Magento_Cms::page",), schema=cms.PageDeleteArguments),
        _route("DELETE", "/V1/cmsBlock/:blockId", "Magento\\Cms\\Api\\BlockRepositoryInterface::deleteById",
               resources=("Magento_Cms::block",), schema=cms.BlockDeleteArguments),
    ]


def builtin_catalogue() -> Catalogue:
    catalogue = Catalogue()
    for route in builtin_routes():
        catalogue.add(route)
    for requested, endpoint in CUSTOMIZATIONS.items():
        catalogue.add_customization(requested, endpoint)
    return catalogue
