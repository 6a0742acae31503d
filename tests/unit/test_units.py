"""Sizes, CPU amounts and durations as docker reads and prints them (core/units.py): the
cases of docker/go-units' size_test.go and duration_test.go, and Go's time.ParseDuration."""
from __future__ import annotations

import pytest

from dunnage.core.units import (UnitError, bytes_binary, bytes_decimal, human_duration, parse_cpus,
                                parse_duration, parse_size)

KiB, MiB, GiB, TiB, PiB = (1 << 10), (1 << 20), (1 << 30), (1 << 40), (1 << 50)


@pytest.mark.parametrize("text, n", [
    ("32", 32), ("32b", 32), ("32B", 32), ("32k", 32 * KiB), ("32K", 32 * KiB), ("32kb", 32 * KiB),
    ("32Kb", 32 * KiB), ("32Kib", 32 * KiB), ("32KIB", 32 * KiB), ("32Mb", 32 * MiB), ("32Gb", 32 * GiB),
    ("32Tb", 32 * TiB), ("32Pb", 32 * PiB), ("32PB", 32 * PiB), ("32P", 32 * PiB),
    ("32.3", 32), ("32 ", 32), ("32.3 mb", int(32.3 * MiB)), ("0.3MB", int(0.3 * MiB)), ("64m", 64 * MiB), ("64MiB", 64 * MiB),
])
def test_sizes_as_rams_in_bytes(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["", "hello", "-32", " 32 ", " 32", "32m b", "32bm", "32  m", ".3kB",
                                  "32x", "32\tm", "1e3", "32\n"])
def test_sizes_docker_refuses(text):
    with pytest.raises(UnitError, match="invalid size"):
        parse_size(text)


def test_binary_sizes_print_as_bytes_size():
    assert [bytes_binary(n) for n in (0, 1023, 1024, MiB, 2 * MiB, 3.42 * GiB, 5.372 * TiB, 2.22 * PiB)] == \
        ["0B", "1023B", "1KiB", "1MiB", "2MiB", "3.42GiB", "5.372TiB", "2.22PiB"]


def test_decimal_sizes_print_with_three_digits_as_docker_stats():
    """docker stats prints its I/O with units.HumanSizeWithPrecision(n, 3)."""
    assert [bytes_decimal(n) for n in (0, 999, 1000, 1024, 1e6, 1048576, 3.42e9)] == \
        ["0B", "999B", "1kB", "1.02kB", "1MB", "1.05MB", "3.42GB"]


H, D = 3600, 24 * 3600
W, MONTH, YEAR = 7 * D, 30 * D, 365 * D


@pytest.mark.parametrize("seconds, text", [
    (0.45, "Less than a second"), (1, "1 second"), (45, "45 seconds"), (59, "59 seconds"),
    (60, "About a minute"), (3 * 60, "3 minutes"), (35 * 60 + 40, "35 minutes"), (59 * 60, "59 minutes"),
    (H, "About an hour"), (H + 29 * 60, "About an hour"), (H + 31 * 60, "2 hours"), (3 * H + 29 * 60, "3 hours"),
    (3 * H + 31 * 60, "4 hours"), (24 * H, "24 hours"), (D + 12 * H, "36 hours"), (2 * D, "2 days"),
    (7 * D, "7 days"), (13 * D + 5 * H, "13 days"), (2 * W, "2 weeks"), (2 * W + 4 * D, "2 weeks"),
    (4 * W + 3 * D, "4 weeks"), (MONTH, "4 weeks"), (MONTH + 2 * W, "6 weeks"), (2 * MONTH, "2 months"),
    (5 * MONTH + 2 * W, "5 months"), (13 * MONTH, "13 months"), (24 * MONTH, "24 months"),
    (24 * MONTH + 2 * W, "2 years"), (3 * YEAR + 2 * MONTH, "3 years"),
])
def test_human_durations(seconds, text):
    assert human_duration(seconds) == text


@pytest.mark.parametrize("text, ns", [
    ("0", 0), ("30s", 30 * 10**9), ("1m30s", 90 * 10**9), ("500ms", 500 * 10**6), ("1h", 3600 * 10**9),
    ("1.5h", 5400 * 10**9), ("2h45m", (2 * 3600 + 45 * 60) * 10**9), ("300us", 300_000), ("1µs", 1000),
    ("10ns", 10), (".5s", 500 * 10**6), ("5.s", 5 * 10**9), ("1h0m0s", 3600 * 10**9),
])
def test_durations_as_gos_parse_duration(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "1", "1x", "s", ".s", "1h-1m", "1 s", "1.2.3s", "ms5"])
def test_durations_go_refuses(text):
    with pytest.raises(UnitError, match="invalid duration"):
        parse_duration(text)


def test_cpus_as_nano_cpus():
    assert parse_cpus("0.5") == 500_000_000 and parse_cpus("2") == 2 * 10**9 and parse_cpus("1.5e0") == 1_500_000_000
    assert parse_cpus("0") == 0 and parse_cpus("0.000000001") == 1
    for bad, why in (("0.0000000001", "too precise"), ("-1", "positive"), ("abc", "rational"), ("nan", "rational")):
        with pytest.raises(UnitError, match=why):
            parse_cpus(bad)
