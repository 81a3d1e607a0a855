"""Marshmallow schemas of Magento's service arguments and data interfaces, one module per area."""
