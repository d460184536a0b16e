"""Read arrays from untrusted ``.npz`` bytes within explicit member, byte and shape limits.

``np.load`` trusts the archive: it inflates whatever a member's header declares, so a
few hundred kilobytes of deflated zeros become hundreds of megabytes before anything
can look at them. ``BoundedNpz`` checks the zip directory before opening a member,
parses each ``.npy`` header itself (shape and dtype checked before any data is read),
and reads the data with a hard byte limit, so a header that lies about the size cannot
make it inflate more. Nothing is ever unpickled.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from collections.abc import Collection
from types import TracebackType

import numpy as np
from numpy.lib import format as npy

from converters.errors import DataError
from converters.limits import MAX_RANK, preview

#: bytes of one member's ``.npy`` header (numpy writes 64 to 128; its own cap is 10000).
MAX_HEADER_BYTES = 4096
#: bytes of the zip central directory: 46 bytes plus the name per member.
MAX_DIRECTORY_BYTES = 64 * 1024
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_MAX_COMMENT = 65535
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_KINDS = {"f": "a float", "iu": "an integer", "U": "a unicode string"}
#: what zipfile, zlib and numpy's header parser raise for damaged or hostile bytes
#: (NotImplementedError: a zip feature it lacks; RuntimeError: encryption).
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    TypeError,
    NotImplementedError,
    RuntimeError,
)


def _directory(raw: bytes, what: str, max_members: int) -> None:
    """Refuse, from the end-of-directory record, an archive with too many members or
    too large a directory, before ``zipfile`` builds an object per entry."""
    at = raw.rfind(_EOCD, max(0, len(raw) - _EOCD_SIZE - _MAX_COMMENT))
    if at < 0 or len(raw) < at + _EOCD_SIZE:
        raise DataError(f"{what} is not a readable .npz (no zip end-of-directory record)")
    entries, size = struct.unpack_from("<HI", raw, at + 10)
    if entries == 0xFFFF or size == 0xFFFFFFFF:
        raise DataError(f"{what} is a zip64 archive; a profile never needs one")
    if entries > max_members:
        raise DataError(f"{what} has {entries} members; at most {max_members} are allowed")
    if size > MAX_DIRECTORY_BYTES:
        raise DataError(
            f"{what} has a {size}-byte zip directory; at most {MAX_DIRECTORY_BYTES} are allowed"
        )


class BoundedNpz:
    """An untrusted ``.npz`` whose members are read one by one within limits.

    Use as a context manager. Every member must be one of ``names`` (as ``name.npy``),
    stored or deflated, unencrypted; the sizes its zip directory declares must add up
    to at most ``max_bytes``, and so must the array data actually read.
    """

    def __init__(self, raw: bytes, what: str, *, names: Collection[str], max_bytes: int) -> None:
        """Check the archive's directory; DataError when it is unreadable or beyond limits.

        Args:
            raw: the ``.npz`` bytes (from an untrusted source).
            what: how messages name the file, e.g. ``"profile"``.
            names: the arrays the archive must hold, no more and no fewer.
            max_bytes: cap on the declared and on the decompressed size of all members.
        """
        self._what = what
        self._budget = max_bytes
        wanted = set(names)
        _directory(raw, what, len(wanted))
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(raw))
        except _UNREADABLE as exc:
            raise DataError(f"{what} is not a readable .npz: {exc}") from None
        try:
            self._members = self._check_members(wanted)
        except DataError:
            self._zip.close()
            raise

    def _check_members(self, wanted: set[str]) -> dict[str, zipfile.ZipInfo]:
        what = self._what
        infos = self._zip.infolist()
        members = {info.filename.removesuffix(".npy"): info for info in infos}
        unexpected = sorted(name for name in members if name not in wanted)
        if len(members) != len(infos) or unexpected:
            found = preview(sorted(info.filename for info in infos))
            raise DataError(f"{what} holds members {found}; expected only {sorted(wanted)}")
        missing = sorted(wanted - set(members))
        if missing:
            raise DataError(f"{what} lacks arrays {missing}")
        for name, info in members.items():
            if info.flag_bits & 0x1 or info.compress_type not in _METHODS:
                raise DataError(
                    f"{what} is not a readable .npz: member {name!r} is encrypted or uses "
                    f"compression method {info.compress_type}; expected stored or deflated"
                )
        declared = sum(info.file_size for info in infos)
        if declared > self._budget:
            raise DataError(
                f"{what} declares {declared} bytes when decompressed; at most "
                f"{self._budget} are allowed"
            )
        return members

    def __enter__(self) -> BoundedNpz:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._zip.close()

    def read(
        self, name: str, *, kinds: str, shape: tuple[int | str, ...], max_bytes: int
    ) -> np.ndarray:
        """The array ``name``, checked before its data is read.

        Args:
            name: one of the archive's ``names``.
            kinds: numpy dtype kinds accepted, e.g. ``"f"`` or ``"iu"``.
            shape: the expected shape; a string is a dimension of any length, named so
                in messages (``("rows", 3)``).
            max_bytes: cap on this array's data (shape x item size).

        Returns:
            A read-only array (non-native byte order and Fortran order as stored).

        Raises:
            DataError: wrong dtype or shape, more data than allowed or declared, or a
                member that is not a valid ``.npy``.
        """
        info = self._members[name]
        where = f"{self._what} {name}"
        if info.file_size > max_bytes + MAX_HEADER_BYTES:
            raise DataError(
                f"{where} declares {info.file_size} bytes; at most {max_bytes} are allowed"
            )
        try:
            with self._zip.open(info) as member:
                found, fortran, dtype = _header(member, where)
                size = _check(found, dtype, where, kinds, shape, min(max_bytes, self._budget))
                data = member.read(size + 1)  # one byte more tells a lying header
                if len(data) != size:
                    raise DataError(
                        f"{where} holds {'more' if len(data) > size else len(data)} bytes of "
                        f"data; its header declares {size}"
                    )
        except _UNREADABLE as exc:
            raise DataError(f"{self._what} is not a readable .npz ({name}): {exc}") from None
        self._budget -= size
        return np.frombuffer(data, dtype=dtype).reshape(found, order="F" if fortran else "C")


def _header(member: io.BufferedIOBase, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = npy.read_magic(member)
    if version == (1, 0):
        return npy.read_array_header_1_0(member, max_header_size=MAX_HEADER_BYTES)
    if version == (2, 0):
        return npy.read_array_header_2_0(member, max_header_size=MAX_HEADER_BYTES)
    raise DataError(f"{where} is .npy format {version}; expected 1.0 or 2.0")


def _check(
    found: tuple[int, ...],
    dtype: np.dtype,
    where: str,
    kinds: str,
    shape: tuple[int | str, ...],
    max_bytes: int,
) -> int:
    """The data size of an array of ``found`` shape and ``dtype``; DataError unless both
    are what is expected and the size is within ``max_bytes``."""
    if dtype.hasobject:
        raise DataError(
            f"{where} holds Python objects (dtype object); only plain numeric and unicode "
            "arrays are accepted, no pickles"
        )
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in kinds:
        wanted = _KINDS.get(kinds, f"a {kinds!r}-kind")
        raise DataError(f"{where} has dtype {dtype.name}; expected {wanted} array")
    if len(found) != len(shape) or any(
        isinstance(d, int) and d != f for d, f in zip(shape, found, strict=True)
    ):
        expected = ", ".join(str(d) for d in shape)
        raise DataError(f"{where} has shape {preview(found, MAX_RANK)}; expected [{expected}]")
    size = math.prod(found) * dtype.itemsize  # Python ints: a hostile shape cannot overflow
    if size > max_bytes:
        raise DataError(
            f"{where} of shape {preview(found, MAX_RANK)} and dtype {dtype} is {size} bytes; "
            f"at most {max_bytes} are allowed"
        )
    return size
