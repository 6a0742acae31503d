"""Parsing and printing sizes, CPU amounts and times the way docker does."""
from __future__ import annotations

import datetime as _dt
import re
from fractions import Fraction

from .errors import InvalidParameter

_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?\Z", re.I)  # go-units' sizeRegex: one space at most
INT64_MAX = (1 << 63) - 1
_MULT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


class UnitError(InvalidParameter, ValueError):
    pass


def parse_size(s: str) -> int:
    """docker's RAMInBytes: '64m', '1g', '512k', '1024', '64MiB' -> bytes."""
    m = _SIZE.match(str(s))
    if not m:
        raise UnitError(f"invalid size: '{s}'")
    try:
        v = int(Fraction(m.group(1)) * _MULT[m.group(2).lower()])
    except ValueError:  # more digits than int() takes
        v = INT64_MAX + 1
    if v > INT64_MAX:  # every size ends in a cgroup file or a record as a 64-bit number
        raise UnitError(f"invalid size: '{s}': value out of range")
    return v


def parse_cpus(s: str) -> int:
    """--cpus '0.5' -> NanoCpus, as docker's NanoCPUs.Set: an exact rational number
    (no inf or nan), a whole number of nanoseconds."""
    def bad(why):
        return UnitError(f'invalid argument "{s}" for "--cpus" flag: {why}')
    exp = re.search(r"[eE][+-]?0*(\d+)", str(s))
    if exp and len(exp.group(1)) > 3:  # 10**exponent would be computed in full
        raise bad("value out of range")
    try:
        v = Fraction(str(s).strip()) * 10**9
    except (ValueError, ZeroDivisionError):
        raise bad(f"failed to parse {s} as a rational number") from None
    if v.denominator != 1:
        raise bad("value is too precise")
    if v < 0:
        raise bad("range of CPUs must be positive")
    return int(v)


def bytes_binary(n: float) -> str:
    """docker's units.BytesSize: 1.5MiB, 64MiB, 0B."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024.0
        i += 1
    return f"{n:.4g}{units[i]}" if i else f"{int(n)}B"


def bytes_decimal(n: float) -> str:
    """docker's units.HumanSizeWithPrecision(n, 3): 1.2kB, 3.4MB, 0B."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.3g}{units[i]}"


def parse_iso(s: str) -> _dt.datetime | None:
    if not s:
        return None
    try:
        return _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def since(iso: str) -> float:
    t = parse_iso(iso)
    if t is None:
        return 0.0
    return (_dt.datetime.now(_dt.timezone.utc) - t).total_seconds()


_DUR = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h)")  # Go's: 1.5h, .5s and 5.s


def parse_duration(s: str) -> int:
    """Go's time.ParseDuration, as docker's --health-interval takes it: '30s', '1m30s', '500ms' -> ns."""
    scale = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
    s = str(s).strip()
    if s == "0":
        return 0
    pos, total = 0, 0.0
    for m in _DUR.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * scale[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise UnitError(f'invalid duration: "{s}" (like 30s, 1m30s, 500ms)')
    return int(total)


def parse_since(s: str) -> int:
    """docker's --since/--until: a duration back from now (10m), a unix time or an ISO time ->
    ns since the epoch; the CLI's logs and events and the dashboard's log view read it alike."""
    import time as _t
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh])", s)
    if m:
        return _t.time_ns() - int(float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)] * 1e9)
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return int(float(s) * 1e9)
    t = parse_iso(s)
    if t is None:
        raise InvalidParameter(f"invalid value for --since: {s}")
    return int(t.timestamp() * 1e9)
