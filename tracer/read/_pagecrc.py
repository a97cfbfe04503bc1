"""Checking a Parquet file's page CRCs without decoding its pages.

Each page of a column chunk is a Thrift page header (compact protocol) and then `compressed_page_size` bytes, whose
CRC-32 the header may carry (field 4; Parquet's spec: the page as written, after its header). Reading the headers and
running zlib over the bytes is what pyarrow's `page_checksum_verification` checks too, without decompressing and
decoding every value into Arrow arrays first: a tenth of the time.

`page_crcs_match(path)`: True when every page has a CRC and all match; False when a page has none (this module
cannot vouch for it: the caller decodes the file instead); raises `Damaged` when a CRC does not match or the
headers do not read as pages that fill their column chunks exactly and hold their numbers of values.
"""

from __future__ import annotations

import os
import zlib
from typing import Any


class Damaged(Exception):
    pass


# Thrift compact protocol types
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)
_CRC_FIELD, _COMPRESSED_SIZE_FIELD = 4, 3
_DATA_PAGE_FIELDS = (5, 8)  # DataPageHeader and DataPageHeaderV2, whose field 1 is the page's number of values
_NONE = -(1 << 40)  # no CRC field read (a CRC is an i32)


_MAX_DEPTH = 16  # a page header nests three structs deep; damage that reads as deeper is damage


class _Reader:
    """Every step consumes at least one byte (a boolean inside a list or a map is a byte of its own, as the compact
    protocol writes it) and structs nest at most `_MAX_DEPTH` deep, so damaged bytes end in `Damaged` before the
    column chunk's end, never in a loop that counts to a damaged size or in a RecursionError."""

    def __init__(self, data: Any, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end
        self.depth = 0

    def byte(self) -> int:
        if self.pos >= self.end:
            raise Damaged("a page header runs past its column chunk")
        b: int = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise Damaged("a page header holds an overlong number")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, kind: int) -> None:
        if kind in (_TRUE, _FALSE):
            return
        if kind == _BYTE:
            self.byte()
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            self.advance(8)
        elif kind == _BINARY:
            self.advance(self.varint())
        elif kind in (_LIST, _SET):
            head = self.byte()
            size, element = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self.element(element)
        elif kind == _MAP:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.element(types >> 4)
                    self.element(types & 0x0F)
        elif kind == _STRUCT:
            self.struct(None)
        else:
            raise Damaged(f"a page header holds an unknown Thrift type {kind}")

    def element(self, kind: int) -> None:
        """Skip one element of a list, set or map: a boolean there is a byte of its own."""
        if kind in (_TRUE, _FALSE):
            self.byte()
        else:
            self.skip(kind)

    def advance(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise Damaged("a page header runs past its column chunk")
        self.pos += n

    def struct(self, wanted: dict[int, int] | None, nested: dict[int, dict[int, int]] | None = None) -> None:
        """Read a struct, keeping the integer fields named in `wanted` (field id -> value, filled in) and those of
        the structs in the fields named in `nested` (field id -> such a dict)."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise Damaged("a page header nests deeper than a page header does")
        try:
            self._fields(wanted, nested)
        finally:
            self.depth -= 1

    def _fields(self, wanted: dict[int, int] | None, nested: dict[int, dict[int, int]] | None) -> None:
        last = 0
        while True:
            head = self.byte()
            kind = head & 0x0F
            if kind == _STOP:
                return
            delta = head >> 4
            field = last + delta if delta else self.zigzag()
            last = field
            if wanted is not None and field in wanted and kind == _I32:
                wanted[field] = self.zigzag()
            elif nested is not None and field in nested and kind == _STRUCT:
                self.struct(nested[field])
            else:
                self.skip(kind)


def page_crcs_match(path: str | os.PathLike[str]) -> bool:
    """Check the pages of every column chunk of the Parquet file at `path`: each page's CRC, and that the data pages
    hold the chunk's number of values. See the module's docstring. Needs pyarrow (for the footer)."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    chunks = []
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        for j in range(group.num_columns):
            column = group.column(j)
            first = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
            chunks.append((first, column.total_compressed_size, column.num_values))
    with open(path, "rb") as f:
        data = f.read()
    view, size = memoryview(data), len(data)
    for start, length, values in chunks:
        end = start + length
        counted = 0
        if start < 0 or length < 0 or end > size:
            raise Damaged("a column chunk lies outside the file")
        pos = start
        while pos < end:
            reader = _Reader(view, pos, end)
            fields = {_COMPRESSED_SIZE_FIELD: -1, _CRC_FIELD: _NONE}
            pages: dict[int, dict[int, int]] = {field: {1: 0} for field in _DATA_PAGE_FIELDS}
            reader.struct(fields, pages)
            counted += sum(page[1] for page in pages.values())
            body, stored, crc = reader.pos, fields[_COMPRESSED_SIZE_FIELD], fields[_CRC_FIELD]
            if stored < 0 or body + stored > end:
                raise Damaged("a page runs past its column chunk")
            if crc == _NONE:
                return False
            if zlib.crc32(view[body : body + stored]) != crc & 0xFFFFFFFF:
                raise Damaged("a page's CRC does not match")
            pos = body + stored
        if counted != values:
            raise Damaged("a column chunk's pages do not hold its number of values")
    return True
