"""Read a TensorFlow (V2 "tensor bundle") checkpoint without TensorFlow.

A checkpoint ``<prefix>`` is two files:

- ``<prefix>.index``: an SSTable (LevelDB's table format) mapping each variable name to a ``BundleEntryProto``
  (dtype, shape, shard, offset, size, masked CRC-32C of the bytes); the empty key holds a ``BundleHeaderProto``.
- ``<prefix>.data-00000-of-00001``: the tensors' raw little-endian bytes, one after another.

Everything is parsed by hand here (block format, varints, the two protobuf messages) and every checksum is
checked: the CRC-32C of each block of the index, and of each tensor read. Only what the musicnn checkpoints
use is supported (one shard, uncompressed blocks, little-endian numeric tensors); anything else is refused
with :class:`CheckpointError` naming the file and the reason.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB table footer magic (little-endian fixed64)
FOOTER_SIZE = 48  # two block handles padded to 40 bytes, then the magic
BLOCK_TRAILER_SIZE = 5  # compression type byte + masked CRC-32C of block and type
# tensorflow/core/framework/types.proto: DataType -> numpy little-endian dtype
DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "|u1", 5: "<i2", 6: "|i1", 9: "<i8", 10: "|b1", 17: "<u2", 19: "<f2"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: names the file and the reason."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True)
class BundleEntry:
    """One tensor's place in the data shard (``BundleEntryProto``)."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int  # masked, as stored


# --- CRC-32C (Castagnoli), as LevelDB and the tensor bundle use it ------------------------------------------
def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (plain Python: about 1 s per 5 MB, run on what is read only)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """Undo LevelDB's CRC masking (``rot = masked - 0xa282ead8; crc = rot >> 17 | rot << 15``)."""
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# --- varints and protobuf fields ----------------------------------------------------------------------------
def read_varint(buf: bytes, pos: int, where: str) -> tuple[int, int]:
    """A base-128 varint at ``pos``: (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError(where, "a varint runs past the end of its buffer")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CheckpointError(where, "a varint longer than 10 bytes")


def proto_fields(buf: bytes, where: str) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of a protobuf message; bytes for length-delimited."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos, where)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos, where)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = read_varint(buf, pos, where)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise CheckpointError(where, f"unsupported protobuf wire type {wire} (field {number})")
        if pos > len(buf):
            raise CheckpointError(where, f"protobuf field {number} runs past the end of its message")
        yield number, wire, value


def _shape(buf: bytes, where: str) -> tuple[int, ...]:
    """``TensorShapeProto``: repeated ``dim`` (2) each with ``size`` (1); ``unknown_rank`` (3) refused."""
    dims = []
    for number, _, value in proto_fields(buf, where):
        if number == 2:
            assert isinstance(value, bytes)
            size = next((int(v) for n, _, v in proto_fields(value, where) if n == 1), 0)
            dims.append(size)
        elif number == 3 and value:
            raise CheckpointError(where, "a tensor of unknown rank")
    return tuple(dims)


def parse_entry(name: str, buf: bytes, where: str) -> BundleEntry:
    """``BundleEntryProto``: dtype 1, shape 2, shard_id 3, offset 4, size 5, crc32c 6 (fixed32), slices 7."""
    values: dict[int, int | bytes] = {}
    for number, _, value in proto_fields(buf, f"{where} entry {name!r}"):
        if number == 7:
            raise CheckpointError(where, f"{name!r} is stored in slices (partitioned variables are not supported)")
        values[number] = value
    shape = values.get(2, b"")
    assert isinstance(shape, bytes)
    return BundleEntry(
        name=name,
        dtype=int(values.get(1, 0)),  # type: ignore[arg-type]
        shape=_shape(shape, f"{where} entry {name!r}"),
        shard_id=int(values.get(3, 0)),  # type: ignore[arg-type]
        offset=int(values.get(4, 0)),  # type: ignore[arg-type]
        size=int(values.get(5, 0)),  # type: ignore[arg-type]
        crc32c=int(values.get(6, 0)),  # type: ignore[arg-type]
    )


# --- the SSTable ---------------------------------------------------------------------------------------------
def _block_handle(buf: bytes, pos: int, where: str) -> tuple[int, int, int]:
    offset, pos = read_varint(buf, pos, where)
    size, pos = read_varint(buf, pos, where)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int, where: str) -> bytes:
    """A block's contents after checking its trailer (no compression, CRC of contents + type byte)."""
    end = offset + size
    if end + BLOCK_TRAILER_SIZE > len(table):
        raise CheckpointError(where, f"a block at {offset} (+{size}) runs past the end of the file")
    contents, kind = table[offset:end], table[end]
    if kind != 0:
        raise CheckpointError(where, f"block compression type {kind} is not supported (only uncompressed)")
    (masked,) = struct.unpack_from("<I", table, end + 1)
    if crc32c(table[offset : end + 1]) != unmask_crc(masked):
        raise CheckpointError(where, f"the block at {offset} fails its CRC-32C check (damaged file)")
    return contents


def block_entries(block: bytes, where: str) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of every entry of a block: keys are prefix-compressed against the previous key."""
    if len(block) < 4:
        raise CheckpointError(where, "a block too short for its restart count")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise CheckpointError(where, "a block's restart array is longer than the block")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = read_varint(block, pos, where)
        unshared, pos = read_varint(block, pos, where)
        value_len, pos = read_varint(block, pos, where)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise CheckpointError(where, "a block entry runs past its block")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_len]
        pos += value_len


def read_index(index: bytes, where: str = "checkpoint.index") -> dict[str, BundleEntry]:
    """Every tensor entry of an ``.index`` file, by variable name (the header is checked, not returned)."""
    if len(index) < FOOTER_SIZE:
        raise CheckpointError(where, "too short to be a checkpoint index")
    (magic,) = struct.unpack_from("<Q", index, len(index) - 8)
    if magic != TABLE_MAGIC:
        raise CheckpointError(where, "not a TensorFlow checkpoint index (no SSTable magic at its end)")
    footer = index[len(index) - FOOTER_SIZE :]
    _, _, pos = _block_handle(footer, 0, where)  # the metaindex block: empty in a tensor bundle
    index_offset, index_size, _ = _block_handle(footer, pos, where)
    entries: dict[str, BundleEntry] = {}
    header_seen = False
    for _, handle in block_entries(_read_block(index, index_offset, index_size, where), where):
        offset, size, _ = _block_handle(handle, 0, where)
        for key, value in block_entries(_read_block(index, offset, size, where), where):
            if key == b"":
                _check_header(value, where)
                header_seen = True
                continue
            name = key.decode("utf-8")
            entries[name] = parse_entry(name, value, where)
    if not header_seen:
        raise CheckpointError(where, "no bundle header (the empty key) in the index")
    return entries


def _check_header(buf: bytes, where: str) -> None:
    """``BundleHeaderProto``: num_shards 1, endianness 2 (0 = little), version 3."""
    values = {n: v for n, _, v in proto_fields(buf, f"{where} header")}
    if values.get(1, 0) != 1:
        raise CheckpointError(where, f"{values.get(1, 0)} data shards (only single-shard checkpoints are read)")
    if values.get(2, 0) != 0:
        raise CheckpointError(where, "a big-endian checkpoint (only little-endian ones are read)")


def read_tensor(entry: BundleEntry, data: bytes, where: str = "checkpoint.data-00000-of-00001") -> np.ndarray:
    """One tensor from the data shard, its CRC-32C checked: a float/int array of ``entry.shape``."""
    if entry.dtype not in DTYPES:
        raise CheckpointError(where, f"{entry.name!r} has TensorFlow dtype {entry.dtype}, which is not supported")
    if entry.shard_id != 0:
        raise CheckpointError(where, f"{entry.name!r} is in shard {entry.shard_id}, not in this one")
    dtype = np.dtype(DTYPES[entry.dtype])
    count = int(np.prod(entry.shape, dtype=np.int64))
    if count * dtype.itemsize != entry.size or entry.offset + entry.size > len(data):
        raise CheckpointError(where, f"{entry.name!r}: {entry.size} bytes at {entry.offset} do not hold {entry.shape}")
    raw = data[entry.offset : entry.offset + entry.size]
    if crc32c(raw) != unmask_crc(entry.crc32c):
        raise CheckpointError(where, f"{entry.name!r} fails its CRC-32C check (damaged file)")
    return np.frombuffer(raw, dtype=dtype).reshape(entry.shape).copy()
