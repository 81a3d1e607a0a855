"""The routes every installation has, as declared in Magento's webapi.xml files."""

from __future__ import annotations

from bulk.catalogue import ANONYMOUS, Catalogue, Route
from bulk.templates import RouteTemplate
from schemas import catalog, customer, quote

PRODUCT_REPOSITORY = "Magento\\Catalog\\Api\\ProductRepositoryInterface"
CUSTOM_OPTION_REPOSITORY = "Magento\\Catalog\\Api\\ProductCustomOptionRepositoryInterface"
CATEGORY_LINK_REPOSITORY = "Magento\\Catalog\\Api\\CategoryLinkRepositoryInterface"
ACCOUNT_MANAGEMENT = "Magento\\Customer\\Api\\AccountManagementInterface"
CUSTOMER_REPOSITORY = "Magento\\Customer\\Api\\CustomerRepositoryInterface"
CART_ITEM_REPOSITORY = "Magento\\Quote\\Api\\CartItemRepositoryInterface"

CATALOG_PRODUCTS = ("Magento_Catalog::products",)
CATALOG_CATEGORIES = ("Magento_Catalog::categories",)

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
               resources=CATALOG_PRODUCTS, schema=catalog.ProductSaveArguments),
        _route("DELETE", "/V1/products/:sku", f"{PRODUCT_REPOSITORY}::deleteById",
               resources=CATALOG_PRODUCTS, schema=catalog.ProductDeleteArguments),
        _route("POST", "/V1/products/options", f"{CUSTOM_OPTION_REPOSITORY}::save",
               resources=CATALOG_PRODUCTS, schema=catalog.CustomOptionSaveArguments,
               implementation="Magento\\Catalog\\Model\\Product\\Option\\Repository\\Interceptor"),
        _route("PUT", "/V1/products/options/:optionId", f"{CUSTOM_OPTION_REPOSITORY}::save",
               resources=CATALOG_PRODUCTS, schema=catalog.CustomOptionSaveArguments,
               implementation="Magento\\Catalog\\Model\\Product\\Option\\Repository\\Interceptor"),
        _route("DELETE", "/V1/products/:sku/options/:optionId",
               f"{CUSTOM_OPTION_REPOSITORY}::deleteByIdentifier",
               resources=CATALOG_PRODUCTS, schema=catalog.CustomOptionDeleteArguments,
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
    ]


def builtin_catalogue() -> Catalogue:
    catalogue = Catalogue()
    for route in builtin_routes():
        catalogue.add(route)
    for requested, endpoint in CUSTOMIZATIONS.items():
        catalogue.add_customization(requested, endpoint)
    return catalogue
