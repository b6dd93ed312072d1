"""A zip's central directory as a compact member table, and its members read and checked by zlib.

zipfile keeps a ZipInfo object of about a kilobyte per member, two copies of each name, and reads a
member through a file object; an artifact of 100,000 members needs only a few numbers per member. The
parser follows zipfile's reading of the end records (the archive comment, zip64, data prepended to
the zip) and refuses what zipfile refuses; it is stricter where zipfile is lenient: a member must
inflate to exactly its recorded size.
"""

from __future__ import annotations

import operator
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, compress
from typing import overload

END = struct.Struct("<4s4H2LH")  # end of central directory record
END64_LOCATOR = struct.Struct("<4sLQL")
END64 = struct.Struct("<4sQ2H2L4Q")
CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # one central directory entry, before its name
LOCAL = struct.Struct("<4s2B4HL2L2H")  # a member's local header, before its name
END_SIGNATURE, END64_SIGNATURE = b"PK\x05\x06", b"PK\x06\x06"
END64_LOCATOR_SIGNATURE, CENTRAL_SIGNATURE, LOCAL_SIGNATURE = b"PK\x06\x07", b"PK\x01\x02", b"PK\x03\x04"
MAX_COMMENT = 1 << 16
TEXT_PIECE = 1 << 20  # names are decoded and checked about this many bytes at a time
MAX_EXTRACT_VERSION = 63  # zipfile's: a member needing a later version is refused
UTF8_NAME, PATCHED, STRONG_ENCRYPTION = 0x800, 0x20, 0x40
STORED, DEFLATED = 0, 8
ZIP64_FIELD = 0x0001
Read = Callable[[int, int], bytes]  # bytes [start, end) of the archive, clipped at its end
View = Callable[[int, int], "bytes | memoryview"]  # the same, as a view of bytes read already


class ZipFormatError(ValueError):
    """The bytes are not a zip this reader accepts, or a member cannot be read."""


class Names(Sequence[str]):
    """The members' names as one buffer of their raw bytes, each followed by a newline, decoded when
    asked for: a third of the memory of a list of 100,000 strings (whose non-ASCII ones take two bytes
    a character), and checked a megabyte of names at a time (`texts`: each piece decoded in one call)."""

    def __init__(self) -> None:
        self._raw, self._ends, self._utf8 = bytearray(), array("q"), array("b")

    def append(self, raw: bytes | memoryview, utf8: int) -> None:
        """Add a name (its bytes are decoded by `check`, once for all)."""
        self._raw += raw
        self._ends.append(len(self._raw))
        self._raw += b"\n"
        self._utf8.append(utf8 != 0)

    def check(self) -> None:
        """Every name decodes (UnicodeDecodeError, a ValueError, for bad UTF-8), as zipfile decodes it."""
        if not self.uniform():
            for _ in self:
                pass
            return
        for _ in self.texts():
            pass

    def texts(self, size: int | None = None) -> Iterator[str]:
        """The names decoded, each followed by a newline, in pieces of about `size` bytes of whole
        names: never a string of them all (uniform names only)."""
        raw, start, size = self._raw, 0, size or TEXT_PIECE
        while start < len(raw):
            end = raw.find(b"\n", start + size) + 1 or len(raw)
            yield raw[start:end].decode("utf-8")
            start = end

    def buffer(self) -> bytearray:
        """The raw buffer itself (not to be changed)."""
        return self._raw

    def uniform(self) -> bool:
        """Whether every name is its bytes as UTF-8: flagged so, or ASCII (zipfile flags only the
        others, and cp437 is ASCII up to 0x7f)."""
        if all(self._utf8) or self._raw.isascii():
            return True
        raw, ends = memoryview(self._raw), self._ends
        try:
            others = compress(range(len(ends)), map((1).__xor__, self._utf8))
            return all(bytes(raw[ends[i - 1] + 1 if i else 0 : ends[i]]).isascii() for i in others)
        finally:
            raw.release()

    def end(self, index: int) -> int:
        """Where name `index` ends in the buffer (its newline)."""
        return self._ends[index]

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]
        start = self._ends[index - 1] + 1 if index else 0
        return str(self._raw[start : self._ends[index]], "utf-8" if self._utf8[index] else "cp437")

    def __iter__(self) -> Iterator[str]:
        start, raw = 0, memoryview(self._raw)
        try:
            for end, utf8 in zip(self._ends, self._utf8, strict=True):
                yield str(raw[start:end], "utf-8" if utf8 else "cp437")
                start = end + 1
        finally:
            raw.release()

    def longest(self) -> int:
        """The length in bytes of the longest name."""
        ends = self._ends
        return max(map(operator.sub, ends, chain((0,), map((1).__add__, ends))), default=0)

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def clear(self) -> None:
        self._raw, self._ends, self._utf8 = bytearray(), array("q"), array("b")


@dataclass(frozen=True)
class Directory:
    """Every member's name and numbers, in central directory order (column i is member i)."""

    start: int  # where the central directory begins: the end of the last member
    names: Names
    offsets: array[int]  # local headers
    compressed: array[int]
    sizes: array[int]
    crcs: array[int]
    methods: array[int]
    flags: array[int]
    modes: array[int]  # the Unix mode: the high half of the external attributes

    def __len__(self) -> int:
        return len(self.names)

    def ends(self) -> array[int]:
        """Where each member's bytes end: at the next local header, or the central directory."""
        order = sorted(range(len(self.offsets)), key=self.offsets.__getitem__)
        ends = array("q", bytes(8 * len(order)))
        for this, after in zip(order, order[1:], strict=False):
            ends[this] = self.offsets[after]
        if order:
            ends[order[-1]] = self.start
        return ends


def read_directory(read: Read, size: int, view: View | None = None) -> Directory:
    """Parse the end records and the central directory of the `size` bytes `read` serves; `view`, when
    given, serves the central directory without a copy (a memoryview of bytes read already)."""
    end_at, entries_size, entries_offset, zip64 = end_record(read, size)
    concat = end_at - entries_size - entries_offset - (END64.size + END64_LOCATOR.size if zip64 else 0)
    start = entries_offset + concat
    if start < 0:
        raise ZipFormatError("bad offset for the central directory")
    entries = (view or read)(start, start + entries_size)
    try:
        return parse_entries(entries, entries_size, start, concat)
    finally:
        if isinstance(entries, memoryview):
            entries.release()


def end_record(read: Read, size: int) -> tuple[int, int, int, bool]:
    """(where the end record is, central directory size, its offset, zip64), as zipfile finds them."""
    if size < END.size:
        raise ZipFormatError("file is not a zip file")
    last = read(size - END.size, size)
    if last[:4] == END_SIGNATURE and last[-2:] == b"\0\0":
        at, record = size - END.size, last
    else:
        window = max(size - MAX_COMMENT - END.size, 0)
        data = read(window, size)
        found = data.rfind(END_SIGNATURE)
        record = data[found : found + END.size]
        if found < 0 or len(record) != END.size:
            raise ZipFormatError("file is not a zip file")
        at = window + found
    fields = END.unpack(record)
    entries_size, entries_offset = fields[5], fields[6]
    if at >= END64_LOCATOR.size:
        locator = END64_LOCATOR.unpack(read(at - END64_LOCATOR.size, at))
        if locator[0] == END64_LOCATOR_SIGNATURE:
            if locator[1] != 0 or locator[3] > 1:
                raise ZipFormatError("zip files that span multiple disks are not supported")
            begin = at - END64_LOCATOR.size - END64.size
            data = read(begin, begin + END64.size) if begin >= 0 else b""
            if len(data) == END64.size and data[:4] == END64_SIGNATURE:
                record64 = END64.unpack(data)
                return at, record64[8], record64[9], True
    return at, entries_size, entries_offset, False


def parse_entries(data: bytes | memoryview, entries_size: int, start: int, concat: int) -> Directory:
    names = Names()
    columns = [array("q") for _ in range(3)] + [array("I"), array("H"), array("H"), array("I")]
    # CRC-32s and modes are 32 and 16 bits: "I" (4 bytes), not "L" (8 on 64-bit Linux). One loop step a
    # member, its appends bound once (100,000 members: about 0.1 s).
    name, offset, packed, unpacked, crc, method, flag, mode = (
        names.append,
        *(column.append for column in columns),
    )
    position, unpack, header = 0, CENTRAL.unpack_from, CENTRAL.size
    size = len(data)
    while position < entries_size:
        if position + header > size:
            raise ZipFormatError("truncated central directory")
        entry = unpack(data, position)
        if entry[0] != CENTRAL_SIGNATURE:
            raise ZipFormatError("bad magic number for the central directory")
        if entry[3] > MAX_EXTRACT_VERSION:
            raise ZipFormatError(f"zip file version {entry[3] / 10:.1f} is not supported")
        name_end = position + header + entry[12]
        extra_end = name_end + entry[13]
        name(data[position + header : name_end], entry[5] & UTF8_NAME)
        if entry[13]:
            at, stored, inflated = zip64_numbers(data[name_end:extra_end], [entry[18], entry[10], entry[11]])
        else:
            at, stored, inflated = entry[18], entry[10], entry[11]
        offset(at + concat)
        packed(stored)
        unpacked(inflated)
        crc(entry[9])
        method(entry[6])
        flag(entry[5])
        mode(entry[17] >> 16)
        position = extra_end + entry[14]
    names.check()
    return Directory(start, names, *columns)


def zip64_numbers(extra: bytes | memoryview, numbers: list[int]) -> list[int]:
    """[offset, compressed, size] with the values a zip64 extra field holds for the saturated ones."""
    offset, compressed, size = numbers
    while len(extra) >= 4:
        kind, length = struct.unpack_from("<HH", extra)
        if length + 4 > len(extra):
            raise ZipFormatError(f"corrupt extra field {kind:04x} (size={length})")
        if kind == ZIP64_FIELD:
            values = extra[4 : length + 4]
            try:
                if size in (0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF):
                    (size,), values = struct.unpack_from("<Q", values), values[8:]
                if compressed == 0xFFFF_FFFF:
                    (compressed,), values = struct.unpack_from("<Q", values), values[8:]
                if offset == 0xFFFF_FFFF:
                    (offset,) = struct.unpack_from("<Q", values)
            except struct.error:
                raise ZipFormatError("corrupt zip64 extra field") from None
        extra = extra[length + 4 :]
    return [offset, compressed, size]


def data_start(directory: Directory, index: int, name: str, read: Read) -> int:
    """Where member `index`'s data begins, after its local header (which must agree on its `name`)."""
    offset, flag = directory.offsets[index], directory.flags[index]
    header = read(offset, offset + LOCAL.size)
    if len(header) != LOCAL.size or header[:4] != LOCAL_SIGNATURE:
        raise ZipFormatError("bad magic number for the file header")
    fields = LOCAL.unpack(header)
    if flag & (PATCHED | STRONG_ENCRYPTION):
        raise ZipFormatError("patched data or strong encryption is not supported")
    name_end = offset + LOCAL.size + fields[10]
    raw = read(offset + LOCAL.size, name_end)
    found = raw.decode("utf-8") if fields[3] & UTF8_NAME else raw.decode("cp437")
    if found != name:
        raise ZipFormatError(f"file name in directory {name!r} and header {found!r} differ")
    return name_end + fields[11]


def inflate(directory: Directory, index: int, data: bytes) -> bytes:
    """Member `index`'s bytes from its compressed `data`: exactly its size, and its CRC-32 checked."""
    size, method = directory.sizes[index], directory.methods[index]
    if len(data) != directory.compressed[index]:
        raise ZipFormatError("the member is cut short")
    if method == DEFLATED:
        try:
            content = zlib.decompressobj(-15).decompress(data, size + 1)  # never past the checked size
        except zlib.error as error:
            raise ZipFormatError(f"the member does not inflate: {error}") from None
    elif method == STORED:
        content = data
    else:
        raise ZipFormatError(f"compression method {method} is not supported")
    if len(content) != size:
        raise ZipFormatError(f"the member inflates to {len(content)} bytes, not {size}")
    if zlib.crc32(content) != directory.crcs[index]:
        raise ZipFormatError("bad CRC-32")
    return content
