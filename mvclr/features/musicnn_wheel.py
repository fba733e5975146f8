"""What both musicnn runtimes share, read from the `musicnn` wheel without TensorFlow: the
models, the layers they expose, and the trained tensors of a model's checkpoint.

The checkpoint is TensorFlow's tensor bundle: `<dir>/.index`, a LevelDB-format table (blocks
of prefix-compressed keys, uncompressed in these files) mapping each variable name to a
`BundleEntryProto` (dtype, shape, offset and size in the data file), and
`<dir>/.data-00000-of-00001`, the raw little-endian tensors. Only what those two files use is
read; anything else (another dtype, compressed blocks, several shards) is refused. Its
provenance (wheel version, SHA-256 of both files) is part of the weights' description.
"""
from __future__ import annotations

import hashlib
import struct
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from musicnn import configuration

MODELS = ("MTT_musicnn", "MSD_musicnn")
# vectors per patch, by the extractor's names, and their sizes (musicnn models: 753-d pools,
# 200-unit back-end)
LAYERS = {"max_pool": 753, "mean_pool": 753, "penultimate": 200, "taggram": 50}
TABLE_MAGIC = 0xDB4775248B80FB57
DT_FLOAT = 1


def validate(model: str, layers) -> list[str]:
    """The layers as a list; ValueError naming the params key when unknown."""
    if model not in MODELS:
        raise ValueError(f"features.audio.model={model!r}: choose one of {', '.join(MODELS)}")
    layers = list(layers)
    if not layers or any(name not in LAYERS for name in layers):
        raise ValueError(f"features.audio.layers={layers}: choose from {', '.join(LAYERS)}")
    return layers


def labels(model: str) -> list[str]:
    return configuration.MTT_LABELS if model.startswith("MTT") else configuration.MSD_LABELS


def checkpoint_dir(model: str) -> Path:
    """The wheel's checkpoint folder of `model`; FileNotFoundError when absent."""
    folder = Path(configuration.__file__).parent / model
    if not (folder / ".index").exists():
        raise FileNotFoundError(f"musicnn checkpoint of {model} not found in {folder} "
                                "(reinstall the musicnn wheel)")
    return folder


def weights_description(model: str) -> str:
    """Which tensors: the model, the wheel's version and the checkpoint files' SHA-256."""
    h = hashlib.sha256()
    for name in (".index", ".data-00000-of-00001"):
        h.update((checkpoint_dir(model) / name).read_bytes())
    return (f"{model} checkpoint of the musicnn {package_version('musicnn')} package "
            f"(sha256 {h.hexdigest()[:16]})")


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def read_checkpoint(model: str) -> dict[str, np.ndarray]:
    """Every float32 tensor of the model's checkpoint, by variable name."""
    folder = checkpoint_dir(model)
    index = (folder / ".index").read_bytes()
    data = (folder / ".data-00000-of-00001").read_bytes()
    if struct.unpack("<Q", index[-8:])[0] != TABLE_MAGIC:
        raise ValueError(f"{folder / '.index'}: not a TensorFlow checkpoint index")
    _, pos = _varint(index, len(index) - 48)                   # metaindex handle, unused
    _, pos = _varint(index, pos)
    tensors = {}
    for _, handle in _entries(_block(index, index[pos:])):
        for key, value in _entries(_block(index, handle)):
            if key:                                          # "" is the bundle's header
                tensors[key.decode()] = _tensor(data, value, folder)
    return tensors


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _block(table: bytes, handle: bytes) -> bytes:
    """The block a BlockHandle (varint offset, varint size) points at."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if table[offset + size] != 0:
        raise ValueError("compressed checkpoint index blocks are not supported")
    return table[offset:offset + size]


def _entries(block: bytes):
    """(key, value) of a table block: prefix-compressed keys, restart array at the end."""
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end, pos, key = len(block) - 4 - 4 * restarts, 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        own, pos = _varint(block, pos)
        size, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + own]
        pos += own
        yield key, block[pos:pos + size]
        pos += size


def _fields(message: bytes):
    """(field number, value) of a protobuf message: varints and length-delimited bytes."""
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        kind = tag & 7
        if kind == 0:
            value, pos = _varint(message, pos)
        elif kind == 2:
            size, pos = _varint(message, pos)
            value, pos = message[pos:pos + size], pos + size
        elif kind == 5:
            value, pos = message[pos:pos + 4], pos + 4
        elif kind == 1:
            value, pos = message[pos:pos + 8], pos + 8
        else:
            raise ValueError(f"protobuf wire type {kind} in a checkpoint entry")
        yield tag >> 3, value


def _tensor(data: bytes, entry: bytes, folder: Path) -> np.ndarray:
    """A BundleEntryProto (1 dtype, 2 shape {2 dim {1 size}}, 3 shard, 4 offset, 5 size)."""
    fields = {1: DT_FLOAT, 2: b"", 3: 0, 4: 0, 5: 0, **dict(_fields(entry))}
    if fields[1] != DT_FLOAT or fields[3] != 0:
        raise ValueError(f"{folder}: only single-shard float32 checkpoints are supported")
    shape = [dict(_fields(dim)).get(1, 0) for number, dim in _fields(fields[2]) if number == 2]
    raw = data[fields[4]:fields[4] + fields[5]]
    return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
