"""Reader for CTranslate2 `model.bin` files (binary format version 6 and earlier).

Layout: u32 version, string spec name, u32 revision, u32 variable count, then per
variable a string name, u8 rank, u32 dims, u8 dtype, u32 byte count and the raw bytes;
then u32 alias count and (alias, target) string pairs. Strings are u16 length (with the
trailing NUL) followed by the UTF-8 bytes and a NUL. Everything is little-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# CTranslate2's DataType enum order.
_DTYPES = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    # bfloat16 has no numpy dtype: kept as raw 16-bit words and widened by the caller.
    5: np.dtype("<u2"),
}
SUPPORTED_VERSIONS = range(3, 7)


class Ct2FormatError(ValueError):
    """The file is not a CTranslate2 model this reader understands."""


@dataclass
class Ct2Model:
    spec_name: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    bfloat16: set[str] = field(default_factory=set)

    def get(self, name: str) -> np.ndarray:
        """A variable by name, following aliases (e.g. a tied output projection)."""
        name = self.aliases.get(name, name)
        try:
            return self.variables[name]
        except KeyError:
            raise Ct2FormatError(f"variable {name!r} missing from the CTranslate2 model") from None


class _Cursor:
    def __init__(self, data: bytes, path: Path):
        self.data = data
        self.offset = 0
        self.path = path

    def unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise Ct2FormatError(f"{self.path}: truncated at byte {self.offset}")
        (value,) = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return value

    def string(self) -> str:
        length = self.unpack("<H")
        raw = self.take(length)
        return raw[:-1].decode("utf-8")

    def take(self, n: int) -> bytes:
        if self.offset + n > len(self.data):
            raise Ct2FormatError(f"{self.path}: truncated at byte {self.offset}")
        chunk = self.data[self.offset : self.offset + n]
        self.offset += n
        return chunk


def read_ct2_model(path: str | Path) -> Ct2Model:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CTranslate2 model not found: {path}")
    cur = _Cursor(path.read_bytes(), path)
    version = cur.unpack("<I")
    if version not in SUPPORTED_VERSIONS:
        raise Ct2FormatError(
            f"{path}: CTranslate2 binary version {version} is not supported "
            f"(supported: {SUPPORTED_VERSIONS.start}..{SUPPORTED_VERSIONS.stop - 1})"
        )
    spec_name = cur.string()
    revision = cur.unpack("<I")
    count = cur.unpack("<I")
    variables: dict[str, np.ndarray] = {}
    bfloat16: set[str] = set()
    for _ in range(count):
        name = cur.string()
        rank = cur.unpack("<B")
        shape = tuple(cur.unpack("<I") for _ in range(rank))
        dtype_id = cur.unpack("<B")
        nbytes = cur.unpack("<I")
        if dtype_id not in _DTYPES:
            raise Ct2FormatError(f"{path}: variable {name!r} has unknown dtype id {dtype_id}")
        dtype = _DTYPES[dtype_id]
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if expected != nbytes:
            raise Ct2FormatError(
                f"{path}: variable {name!r} declares {nbytes} bytes, shape {shape} needs {expected}"
            )
        variables[name] = np.frombuffer(cur.take(nbytes), dtype=dtype).reshape(shape)
        if dtype_id == 5:
            bfloat16.add(name)
    aliases: dict[str, str] = {}
    if version >= 4 and cur.offset < len(cur.data):
        for _ in range(cur.unpack("<I")):
            alias = cur.string()
            aliases[alias] = cur.string()
    if cur.offset != len(cur.data):
        raise Ct2FormatError(f"{path}: {len(cur.data) - cur.offset} trailing bytes after the aliases")
    return Ct2Model(spec_name, revision, variables, aliases, bfloat16)
