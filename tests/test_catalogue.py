"""Route templates, Magento's naming rules and the built-in catalogue."""

from __future__ import annotations

import pytest

from bulk.routes.builtin import builtin_catalogue
from bulk.routes.catalogue import Catalogue, DuplicateRoute, Route, default_implementation
from bulk.routes.paths import RouteTemplate, bulk_path, topic_name


@pytest.mark.parametrize("sync, bulk", [
    ("/V1/products", "/V1/products"),
    ("/V1/products/:sku", "/V1/products/bySku"),
    ("/V1/products/:sku/media/:entryId", "/V1/products/bySku/media/byEntryId"),
    ("/V1/carts/:quoteId/items", "/V1/carts/byQuoteId/items"),
    ("/V1/cmsPage/:pageId", "/V1/cmsPage/byPageId"),
    ("/V1/products/:sku/group-prices/:customerGroupId/tiers/:qty/price/:price",
     "/V1/products/bySku/group-prices/byCustomerGroupId/tiers/byQty/price/byPrice"),
])
def test_bulk_path_follows_magentos_rule(sync, bulk):
    assert bulk_path(sync) == bulk


@pytest.mark.parametrize("service, method, http, topic", [
    ("Magento\\Catalog\\Api\\ProductRepositoryInterface", "save", "POST",
     "async.magento.catalog.api.productrepositoryinterface.save.post"),
    ("Magento\\Catalog\\Api\\ProductRepositoryInterface", "save", "PUT",
     "async.magento.catalog.api.productrepositoryinterface.save.put"),
    ("Magento\\Catalog\\Api\\ProductRepositoryInterface", "deleteById", "DELETE",
     "async.magento.catalog.api.productrepositoryinterface.deletebyid.delete"),
    ("\\Magento\\Customer\\Api\\AccountManagementInterface", "createAccount", "POST",
     "async.magento.customer.api.accountmanagementinterface.createaccount.post"),
])
def test_topic_name_follows_magentos_rule(service, method, http, topic):
    assert topic_name(service, method, http) == topic


def test_default_implementation_is_the_interceptor_of_the_model():
    assert default_implementation("Magento\\Catalog\\Api\\ProductRepositoryInterface") == \
        "Magento\\Catalog\\Model\\ProductRepository\\Interceptor"


def test_builtin_catalogue_has_the_required_routes():
    keys = {route.key for route in builtin_catalogue()}
    assert keys >= {
        "POST /V1/products", "PUT /V1/products/:sku", "DELETE /V1/products/:sku",
        "POST /V1/customers", "PUT /V1/customers/:customerId", "DELETE /V1/customers/:customerId",
        "POST /V1/carts/:quoteId/items", "POST /V1/categories/:categoryId/products",
        "DELETE /V1/categories/:categoryId/products/:sku", "POST /V1/products/options",
        "PUT /V1/products/options/:optionId", "DELETE /V1/products/:sku/options/:optionId",
    }


def test_async_matching_prefers_literal_segments():
    catalogue = builtin_catalogue()
    route, values = catalogue.match_async("PUT", "/V1/products/options/12")
    assert route.key == "PUT /V1/products/options/:optionId"
    assert values == {"optionId": "12"}
    route, values = catalogue.match_async("PUT", "/V1/products/options")
    assert (route.key, values) == ("PUT /V1/products/:sku", {"sku": "options"})
    assert catalogue.match_async("GET", "/V1/products") is None
    assert catalogue.match_async("PUT", "/V1/products//x") is None


def test_bulk_matching_is_literal_and_case_sensitive():
    catalogue = builtin_catalogue()
    assert catalogue.match_bulk("PUT", "/V1/products/bySku").key == "PUT /V1/products/:sku"
    assert catalogue.match_bulk("PUT", "/V1/products/24-MB01") is None
    assert catalogue.match_bulk("PUT", "/V1/products/bysku") is None
    assert catalogue.match_bulk("DELETE", "/V1/categories/byCategoryId/products/bySku").key == \
        "DELETE /V1/categories/:categoryId/products/:sku"


def test_route_customisation():
    assert builtin_catalogue().customize("asyncProducts") == "async/V1/products"
    assert builtin_catalogue().customize("async/V1/products") == "async/V1/products"


def test_duplicate_routes_are_refused():
    catalogue = Catalogue()
    route = Route("POST", RouteTemplate("/V1/x"), "A\\Api\\XInterface", "save", ("A::x",))
    catalogue.add(route)
    with pytest.raises(DuplicateRoute):
        catalogue.add(Route("POST", RouteTemplate("/V1/x"), "A\\Api\\YInterface", "save", ("A::x",)))


@pytest.mark.parametrize("kwargs, problem", [
    ({"method": "GET"}, "async routes"),
    ({"resources": ()}, "ACL resource"),
])
def test_invalid_routes_are_refused(kwargs, problem):
    base = dict(method="POST", template=RouteTemplate("/V1/x"), service_class="A\\Api\\XInterface",
                service_method="save", resources=("A::x",))
    with pytest.raises(ValueError, match=problem):
        Route(**{**base, **kwargs})


@pytest.mark.parametrize("url", ["V1/x", "/V1//x", "/rest/V1/x"])
def test_invalid_templates_are_refused(url):
    with pytest.raises(ValueError):
        RouteTemplate(url)
