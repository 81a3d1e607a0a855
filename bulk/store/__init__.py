"""The embedded store: a stateful stand-in for the Magento services behind the built-in routes."""
