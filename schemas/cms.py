"""CMS arguments (`Magento\\Cms\\Api`)."""

from schemas.base import Arguments, Integer


class PageDeleteArguments(Arguments):
    """PageRepositoryInterface::deleteById(int $pageId)."""

    pageId = Integer(required=True)


class BlockDeleteArguments(Arguments):
    """BlockRepositoryInterface::deleteById(int $blockId)."""

    blockId = Integer(required=True)
