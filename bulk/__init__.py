"""A Magento-compatible asynchronous bulk Web API: accept bulks, queue one operation per entity, drain."""
