"""The API described: Magento's schema endpoints (Swagger 2.0) and a Swagger UI page, served offline.

`register_api_docs(app)` is the one way in; `openapi` builds the documents, `views` serves them.
"""

from bulk.apidocs.views import DOCS_ENDPOINTS, register_api_docs

__all__ = ["DOCS_ENDPOINTS", "register_api_docs"]
