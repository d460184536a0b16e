"""Rules for model names and version strings, and the next automatic version."""

from __future__ import annotations

import re
from collections.abc import Iterable

from registry.errors import InvalidArgumentError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
VERSION_PATTERN = r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$"
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
FIRST_VERSION = "1.0.0"

_NAME = re.compile(NAME_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_KIND = re.compile(KIND_PATTERN)


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise.

    Raises:
        InvalidArgumentError: it does not match ``NAME_PATTERN``.

    >>> check_name("btc-usd_v2.lgbm")
    'btc-usd_v2.lgbm'
    >>> check_name("-bad")
    Traceback (most recent call last):
    ...
    registry.errors.InvalidArgumentError: invalid model name '-bad': expected 1-128 \
characters from A-Z a-z 0-9 _ . -, starting with a letter or digit
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"invalid model name {name!r}: expected 1-128 characters from A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit"
        )
    return name


def check_version(version: str) -> str:
    """Return ``version`` if it is a semantic version string, else raise.

    Raises:
        InvalidArgumentError: it does not match ``VERSION_PATTERN`` or is over 64 characters.

    >>> check_version("2.1.0-rc.1")
    '2.1.0-rc.1'
    >>> check_version("v1")
    Traceback (most recent call last):
    ...
    registry.errors.InvalidArgumentError: invalid version 'v1': expected MAJOR.MINOR.PATCH \
with an optional -prerelease or +build suffix, e.g. '1.2.3'
    """
    if not isinstance(version, str) or len(version) > 64 or not _VERSION.fullmatch(version):
        raise InvalidArgumentError(
            f"invalid version {version!r}: expected MAJOR.MINOR.PATCH with an optional "
            "-prerelease or +build suffix, e.g. '1.2.3'"
        )
    return version


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is a valid audit kind (lower snake case, 1-32 chars), else raise.

    >>> check_kind("auto_rollback")
    'auto_rollback'
    """
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InvalidArgumentError(
            f"invalid transition kind {kind!r}: expected lower snake case, 1-32 characters"
        )
    return kind


def version_core(version: str) -> tuple[int, int, int]:
    """Return (major, minor, patch) of a version string, ignoring any suffix.

    >>> version_core("1.10.3+build.7")
    (1, 10, 3)
    """
    core = re.split(r"[-+]", version, maxsplit=1)[0]
    major, minor, patch = core.split(".")
    return int(major), int(minor), int(patch)


def next_version(existing: Iterable[str]) -> str:
    """Return the next automatic version: ``1.0.0``, else the highest core with patch + 1.

    Suffixes are ignored when finding the highest, so after ``2.0.0-rc.1`` comes ``2.0.1``.

    >>> next_version([])
    '1.0.0'
    >>> next_version(["1.0.0", "1.2.9", "1.10.0", "0.9.0"])
    '1.10.1'
    >>> next_version(["2.0.0-rc.1"])
    '2.0.1'
    """
    cores = [version_core(v) for v in existing]
    if not cores:
        return FIRST_VERSION
    major, minor, patch = max(cores)
    return f"{major}.{minor}.{patch + 1}"
