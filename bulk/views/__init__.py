"""HTTP: one front controller for Magento's URL grammar, thin views behind it."""
