"""Checking a find's arguments and turning them into SQL, the same for both backends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .base import PLAIN_PREFIX, QueryError, Record, check_name, check_paging, check_tag_name
from .crypto import StoreKeys
from .query import Node, parse_query
from .sqlbuild import Dialect, Select, build_find


@dataclass(frozen=True, slots=True)
class FindPlan:
    """The SELECT to run and what to do with its rows afterwards.

    Ids are stored only as keyed hashes, so ``order_by="id"`` cannot be done by the
    database: every match is read, decrypted and sorted here, then paged.
    """

    cat_h: bytes
    select: Select
    node: Node | None = None
    by_id: bool = False
    descending: bool = False
    limit: int | None = None
    offset: int = 0

    @classmethod
    def make(
        cls,
        dialect: Dialect,
        keys: StoreKeys,
        category: str,
        query: Mapping[str, Any] | None,
        limit: int | None,
        offset: int,
        order_by: str | None,
        descending: bool,
        for_update: bool,
    ) -> FindPlan:
        check_name("category", category)
        limit, offset = check_paging(limit, offset)
        if not isinstance(descending, bool):
            raise QueryError("descending must be true or false")
        node = parse_query(query)
        order_tag = _order_tag(order_by)
        by_id = order_by == "id"
        cat_h = keys.category(category)
        select = build_find(
            dialect,
            keys,
            cat_h,
            node,
            order_tag=order_tag,
            limit=None if by_id else limit,
            offset=0 if by_id else offset,
            descending=descending and not by_id,
            for_update=for_update,
        )
        return cls(cat_h, select, node, by_id, descending, limit, offset)

    @classmethod
    def make_count(
        cls,
        dialect: Dialect,
        keys: StoreKeys,
        category: str,
        query: Mapping[str, Any] | None,
    ) -> FindPlan:
        check_name("category", category)
        cat_h = keys.category(category)
        return cls(cat_h, build_find(dialect, keys, cat_h, parse_query(query), count=True))

    def finish(self, records: list[Record]) -> list[Record]:
        if not self.by_id:
            return records
        records.sort(key=lambda record: record.id, reverse=self.descending)
        end = None if self.limit is None else self.offset + self.limit
        return records[self.offset : end]


def _order_tag(order_by: object) -> str | None:
    if order_by is None or order_by == "id":
        return None
    if not isinstance(order_by, str):
        raise QueryError("order_by must be None, 'id' or a plain tag name")
    if not order_by.startswith(PLAIN_PREFIX):
        raise QueryError(
            f"can only order by 'id' or a plain tag (name starting with {PLAIN_PREFIX!r}): "
            "other tags are stored as keyed hashes, which keep no order"
        )
    try:
        return check_tag_name(order_by)
    except InputError as err:
        raise QueryError(f"bad order_by: {err}") from None
