"""Magento's numeric codes, named once (`Magento\\Framework\\Bulk\\OperationInterface`, user contexts)."""

from enum import IntEnum


class OperationStatus(IntEnum):
    """Operation status codes exactly as Magento stores and reports them."""

    COMPLETE = 1
    RETRIABLY_FAILED = 2
    NOT_RETRIABLY_FAILED = 3
    OPEN = 4
    REJECTED = 5


class UserType(IntEnum):
    """`Magento\\Authorization\\Model\\UserContextInterface` user types recorded on a bulk."""

    INTEGRATION = 1
    ADMIN = 2
    CUSTOMER = 3
    GUEST = 4
