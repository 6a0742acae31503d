"""COPY --chmod's symbolic notation (builder/chmod.py) held to tonistiigi/dchapes-mode's own
TestApply cases with a umask of 0 (the one BuildKit's copy uses) and its TestParseError."""
from __future__ import annotations

import pytest

from dunnage.builder import chmod

D = 0o40000  # a directory, as os.ModeDir in the cases
CASES = [
    (0o777, 0o000, "="), (0o777, 0o777, "+"), (0o421, 0o421, "+"), (0o777, 0o777, "-"), (0o421, 0o421, "-"),
    (0o421, 0o1421, "+t"), (0o1421, 0o421, "-t"),
    (0, 0o400, "u+r"), (0, 0o200, "u+w"), (0, 0o100, "u+x"), (0, 0, "u+X"), (0o001, 0o101, "u+X"),
    (D, 0o100, "u+X"), (0, 0o4000, "u+s"),
    (0, 0o040, "g+r"), (0, 0o020, "g+w"), (0, 0o010, "g+x"), (0, 0, "g+X"), (0o100, 0o110, "g+X"),
    (D, 0o010, "g+X"), (0, 0o2000, "g+s"),
    (0, 0o004, "o+r"), (0, 0o002, "o+w"), (0, 0o001, "o+x"), (0, 0, "o+X"), (0o100, 0o101, "o+X"),
    (D, 0o001, "o+X"), (0, 0, "o+s"),
    (0, 0o444, "+r"), (0, 0o222, "+w"), (0, 0o111, "+x"), (0, 0, "+X"), (0o010, 0o111, "+X"), (D, 0o111, "+X"),
    (0, 0o6000, "+s"),
    (0o777, 0o333, "-r"), (0o777, 0o555, "-w"), (0o777, 0o666, "-x"), (0o777, 0o777, "-X"),
    (D | 0o777, 0o777, "-X"), (0o6777, 0o777, "-s"),
    (0o777, 0o377, "u-r"), (0o777, 0o577, "u-w"), (0o777, 0o677, "u-x"), (0o777, 0o777, "u-X"),
    (D | 0o777, 0o777, "u-X"), (0o4777, 0o777, "u-s"),
    (0, 0o600, "u=rw"), (0o777, 0o677, "u=rw"), (0o777, 0o077, "u="), (0, 0o666, "=rw"), (0o777, 0o666, "=rw"),
    (0o042, 0o442, "u=g"), (0o742, 0o442, "u=g"), (0o722, 0o022, "u=g-w"), (0o742, 0o442, "u=g-w"),
    (0o762, 0o462, "u=g-w"), (0o772, 0o572, "u=g-w"),
    (0o021, 0o121, "u+o"), (0o021, 0o221, "u+g"), (0o021, 0o321, "u+go"),
    (0, 0o764, "a=r,ug=rw,u+x"), (0o777, 0o764, "a=r,ug=rw,u+x"),
    (0, 0o1624, "o+r,g+w,a+t,g-s,u+og"), (0o2100, 0o1724, "o+r,g+w,a+t,g-s,u+og"),
    (D | 0o6000, 0o5624, "o+r,g+w,a+t,g-s,u+og"),
    (0o777, 0o755, "go-w"), (0, 0o755, "u=rwx,go=rx"), (0, 0o755, "u=rwx,go=u-w"), (0o777, 0o700, "go="),
    (0o770, 0o755, "go=u-w"), (0o670, 0o644, "go=u-w"), (0o570, 0o555, "go=u-w"), (0o370, 0o311, "go=u-w"),
]


@pytest.mark.parametrize("old, new, text", CASES)
def test_dchapes_mode_cases(old, new, text):
    assert chmod.parse(text)(old & 0o7777, bool(old & D)) == new


@pytest.mark.parametrize("text", ["", ",", "q+r", "z", "u", "g", "o", "go", "u+r,", "+x,,"])
def test_syntax_errors(text):
    with pytest.raises(ValueError):
        chmod.parse(text)


def test_the_references_examples():
    """+x and g=u as the reference has them; X counts only after +, as in BSD's setmode and so
    in BuildKit's copy: u=rwX,go=rX gives 644 to all (the reference says directories get 755;
    its code does not), u=rw,u+X,go=r,go+X is what gives 755 to a directory."""
    assert chmod.parse("+x")(0o644, False) == 0o755 and chmod.parse("g=u")(0o640, False) == 0o660
    f = chmod.parse("u=rwX,go=rX")
    assert (f(0o600, True), f(0o600, False), f(0o700, False)) == (0o644, 0o644, 0o644)
    f = chmod.parse("u=rw,u+X,go=r,go+X")
    assert (f(0o600, True), f(0o600, False), f(0o700, False)) == (0o755, 0o644, 0o755)
