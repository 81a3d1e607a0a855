"""Customer arguments (`Magento\\Customer\\Api`)."""

from schemas.base import (
    Arguments,
    Boolean,
    DataObject,
    DataObjectList,
    FreeObject,
    Integer,
    MagentoSchema,
    String,
    StringList,
)
from schemas.common import CustomAttributes

API_DATA = "\\Magento\\Customer\\Api\\Data\\"


class Region(MagentoSchema):
    data_type = API_DATA + "RegionInterface"

    region_code = String()
    region = String()
    region_id = Integer()
    extension_attributes = FreeObject()


class Address(MagentoSchema):
    data_type = API_DATA + "AddressInterface"

    id = Integer()
    customer_id = Integer()
    region = DataObject(Region)
    region_id = Integer()
    country_id = String()
    street = StringList()
    company = String()
    telephone = String()
    fax = String()
    postcode = String()
    city = String()
    firstname = String()
    lastname = String()
    middlename = String()
    prefix = String()
    suffix = String()
    vat_id = String()
    default_shipping = Boolean()
    default_billing = Boolean()
    extension_attributes = FreeObject()
    custom_attributes = CustomAttributes()


class Customer(MagentoSchema):
    data_type = API_DATA + "CustomerInterface"

    id = Integer()
    group_id = Integer()
    default_billing = String()
    default_shipping = String()
    confirmation = String()
    created_at = String()
    updated_at = String()
    created_in = String()
    dob = String()
    email = String()
    firstname = String()
    lastname = String()
    middlename = String()
    prefix = String()
    suffix = String()
    gender = Integer()
    store_id = Integer()
    taxvat = String()
    website_id = Integer()
    addresses = DataObjectList(Address)
    disable_auto_group_change = Integer()
    extension_attributes = FreeObject()
    custom_attributes = CustomAttributes()


class CustomerCreateArguments(Arguments):
    """AccountManagementInterface::createAccount(CustomerInterface $customer, $password, $redirectUrl)."""

    customer = DataObject(Customer, required=True)
    password = String(load_default=None)
    redirectUrl = String(load_default="")


class CustomerSaveArguments(Arguments):
    """CustomerRepositoryInterface::save(CustomerInterface $customer, string $passwordHash = null)."""

    customer = DataObject(Customer, required=True)
    # Never shown by any endpoint (bulk.secret_fields), like a password.
    passwordHash = String(load_default=None, metadata={"secret": True})
    # The URL's customer id, used when the customer object does not carry one.
    customerId = Integer()


class CustomerDeleteArguments(Arguments):
    """CustomerRepositoryInterface::deleteById(int $customerId)."""

    customerId = Integer(required=True)
