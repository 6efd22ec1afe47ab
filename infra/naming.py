"""Pure naming and addressing helpers shared by every component.

Kept free of Pulumi so that they can be tested, and reused by settings
validation, without a runtime. Both are deterministic: the same inputs give
the same names and ranges on every run, so previews never churn.
"""

import hashlib
import ipaddress
import re

DNS_LABEL_MAX = 63
AUTONAMED_MAX = DNS_LABEL_MAX - 8
"""Longest logical name whose Pulumi auto-name ("-" + 7 hex) still fits a 63-character label."""
_HASH_LEN = 8
_NOT_LABEL = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def ipv4_network(where: str, value: str) -> ipaddress.IPv4Network:
    """`value` as an IPv4 network address, or ValueError naming `where`."""
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{where}={value!r}: not an IPv4 network address ({exc})") from None


def subnet_cidrs(cidr: str, count: int, new_prefix: int) -> list[str]:
    """The first `count` consecutive /`new_prefix` blocks of `cidr`, in address order.

    Raises ValueError, naming the cidr, when it is not a network address or the
    blocks do not fit.
    """
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        raise ValueError(f"cidr {cidr!r} is not a network address: {exc}") from None
    if count < 1:
        raise ValueError(f"cidr {cidr!r}: count must be at least 1, got {count}")
    if not network.prefixlen <= new_prefix <= network.max_prefixlen:
        raise ValueError(f"cidr {cidr!r}: cannot carve /{new_prefix} blocks from a /{network.prefixlen}")
    available = 2 ** (new_prefix - network.prefixlen)
    if count > available:
        raise ValueError(f"cidr {cidr!r} holds {available} /{new_prefix} block(s), {count} requested")
    blocks = network.subnets(new_prefix=new_prefix)
    return [str(next(blocks)) for _ in range(count)]


def resource_name(*parts: str, max_len: int = DNS_LABEL_MAX) -> str:
    """Join `parts` into one lower-case RFC 1123 label of at most `max_len` characters.

    Characters outside [a-z0-9-] become "-", runs of "-" collapse. A name that is
    too long keeps its head and gets "-" plus an 8-hex hash of the whole name, so
    that two long names sharing a prefix stay distinct. Pass a smaller `max_len`
    where the provider appends an auto-name suffix (GCP: "-" + 7 hex characters).
    """
    if max_len < _HASH_LEN + 2:
        raise ValueError(f"max_len must be at least {_HASH_LEN + 2}, got {max_len}")
    joined = "-".join(parts).lower()
    label = _DASHES.sub("-", _NOT_LABEL.sub("-", joined)).strip("-")
    if not label:
        raise ValueError(f"no name can be made from {parts!r}")
    if len(label) <= max_len:
        return label
    digest = hashlib.sha256(label.encode()).hexdigest()[:_HASH_LEN]
    head = label[: max_len - _HASH_LEN - 1].rstrip("-")
    return f"{head}-{digest}"


def gcp_label_value(value: str) -> str:
    """A value as a GCP label value: lower-case letters, digits, '-' and '_', at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", value.lower())[:63]
