"""--format: Go's text/template with docker's functions (tui/gotemplate.py).

The expected texts are what docker's own client prints for the same template
(docker 28.2, `docker context ls --format`, which needs no daemon) or what Go's
text/template documents.  Pure: the command line on a real container is in
tests/test_template.py."""
from __future__ import annotations

import pytest

from dunnage.tui.gotemplate import Struct, TemplateError, format_rows, go_json, parse, tabwrite

pytestmark = pytest.mark.timeout(120)

DATA = {
    "Name": "web",
    "Null": None,
    "Config": {"Labels": {"zeta": "1", "alpha": "2", "mid": "3"}, "Cmd": ["sh", "-c", "echo hi"], "Env": None},
    "State": {"Pid": 4242, "Running": True, "Big": 1e6, "Ratio": 0.25},
}


def run(src: str, data=DATA) -> str:
    return parse(src).execute(data)


def error_of(src: str, data=DATA) -> str:
    with pytest.raises(TemplateError) as ex:
        parse(src).execute(data)
    return str(ex.value)


@pytest.mark.parametrize("src, out", [
    ("{{.Name}}", "web"),
    ("{{.Config.Cmd}}", "[sh -c echo hi]"),
    ("{{.Nope}}", "<no value>"),  # a missing key of a map[string]interface{}
    ("{{.Nope.Deeper}}", "<no value>"),
    ("{{.Null}}", "<no value>"),
    ("{{print .Null .Nope}}", "<nil> <nil>"),
    ("{{.State}}", "map[Big:1e+06 Pid:4242 Ratio:0.25 Running:true]"),
    ("{{.Config.Env}}", "<no value>"),
    ("{{$}}", "map[Config:map[Cmd:[sh -c echo hi] Env:<nil> Labels:map[alpha:2 mid:3 zeta:1]] Name:web "
              "Null:<nil> State:map[Big:1e+06 Pid:4242 Ratio:0.25 Running:true]]"),
    ("{{1234567.0}}|{{1e6}}|{{100000.0}}|{{0.000012}}|{{1e21}}|{{3.0}}|{{1e-7}}", "1.234567e+06|1e+06|100000|1.2e-05|1e+21|3|1e-07"),
    ("{{0x1F}}|{{'a'}}|{{1_000}}|{{0o17}}|{{0b101}}|{{017}}|{{-3}}", "31|97|1000|15|5|15|-3"),
    ("{{true}} {{false}} {{\"q\\n\"}} {{`raw\\n`}}", "true false q\n raw\\n"),
])
def test_values_print_as_gos_fmt_prints_them(src, out):
    assert run(src) == out


def test_trim_markers_and_comments():
    assert run("a  {{- .Name -}}  \n b") == "awebb"
    assert run("a {{-3}} b") == "a -3 b"  # no space after the dash: a negative number
    assert run("{{/* a comment */}}x{{- /* another */ -}}  \n y") == "xy"
    assert run("{{ .Name }}") == "web"
    assert run("{{- 3}}\n  {{- 4 }}  \n {{5 -}} \n x") == "34  \n 5x"


def test_range_over_a_map_is_sorted_by_key_with_index_and_value():
    assert run("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}") == "alpha=2;mid=3;zeta=1;"
    assert run("{{range .Config.Labels}}{{.}}{{end}}") == "231"
    assert run("{{range $i, $c := .Config.Cmd}}{{$i}}:{{$c}} {{end}}") == "0:sh 1:-c 2:echo hi "
    assert run("{{range .Config.Env}}x{{else}}none{{end}}") == "none"
    assert run("{{range .Nope}}x{{else}}none{{end}}") == "none"
    assert run("{{range $i, $e := split \"a,b,c\" \",\"}}{{if eq $i 1}}{{continue}}{{end}}{{$e}}{{end}}") == "ac"
    assert run("{{range $i, $e := split \"a,b,c\" \",\"}}{{if eq $i 1}}{{break}}{{end}}{{$e}}{{end}}") == "a"
    assert run("{{range 3}}{{.}}{{end}}") == "012"


def test_if_else_if_with_and_their_else():
    src = "{{if eq .State.Pid 1}}one{{else if .State.Running}}running{{else}}other{{end}}"
    assert run(src) == "running"
    assert run("{{if .Nope}}a{{else if .Config.Env}}b{{else}}c{{end}}") == "c"
    assert run("{{with .Config}}{{index .Cmd 0}}-{{$.Name}}{{end}}") == "sh-web"
    assert run("{{with .Nope}}a{{else with .Name}}{{.}}{{end}}") == "web"
    assert run("{{if and .Name (not .Null) (or 0 .State.Pid)}}yes{{end}}") == "yes"
    assert run("{{and 1 0 2}}|{{or 0 \"\" \"x\"}}|{{not 0}}") == "0|x|true"


def test_variables_and_their_scope():
    assert run("{{$x := .Name}}{{$x}} {{$.Name}}") == "web web"
    assert run("{{$x := \"out\"}}{{range split \"a\" \",\"}}{{$x := .}}{{end}}{{$x}}") == "out"
    assert run("{{$x := \"out\"}}{{range split \"a\" \",\"}}{{$x = .}}{{end}}{{$x}}") == "a"
    assert run("{{with $y := .Name}}{{$y}}{{end}}") == "web"
    assert error_of("{{with $y := 3}}{{end}}{{$y}}") == 'template: :1: undefined variable "$y"'


def test_pipelines_and_parentheses():
    assert run("{{.Name | upper | printf \"%-6s|\"}}") == "WEB   |"
    assert run("{{\"x\" | printf \"%s-%s\" \"y\"}}") == "y-x"  # the piped value is the last argument
    assert run("{{(index .Config.Cmd 2) | len}}") == "7"
    assert run("{{(.Config).Cmd}}") == "[sh -c echo hi]"
    assert run("{{printf \"%s\" (print 1 (printf \"%d\" 2))}}") == "12"


def test_comparisons_of_numbers_strings_and_nil():
    assert run("{{eq .State.Pid 4242}} {{eq \"a\" \"b\" \"a\"}} {{ne 1 2}} {{eq nil nil}}") == "true true true true"
    assert run("{{lt 1 2}} {{gt \"b\" \"a\"}} {{le 2 2}} {{ge 1 2}}") == "true true true false"
    assert error_of("{{eq 1 1.0}}") == ('template: :1:2: executing "" at <eq 1 1.0>: error calling eq: '
                                        "incompatible types for comparison")
    assert error_of("{{lt true false}}").endswith("error calling lt: invalid type for comparison")


@pytest.mark.parametrize("src, out", [
    ('{{printf "%d|%s|%5.1f|%x|%X|%q|%v|%-6s|%06d|%+d|%o|%#x|%c|%U|%t" 42 "hi" 3.14159 255 "hi" "a\\tb" 1.5 "ab" 42 5 8 '
     '255 65 65 true}}', '42|hi|  3.1|ff|6869|"a\\tb"|1.5|ab    |000042|+5|10|0xff|A|U+0041|true'),
    ('{{printf "%.2f|%8.3f|%-8.2f|%08.3f|%+.1e|%g|%g|%G" 3.14159 2.5 2.5 -2.5 12345.678 0.00001 100.0 1e-10}}',
     "3.14|   2.500|2.50    |-002.500|+1.2e+04|1e-05|100|1E-10"),
    ('{{printf "%5s|%-5s|%.2s|%5.1s|%q|%x|% x" "abc" "abc" "abc" "abc" "héllo\\x01" "hi" "hi"}}',
     '  abc|abc  |ab|    a|"héllo\\x01"|6869|68 69'),
    ('{{printf "%d|%5d|%-5d|%05d|%x|%X|%#o|%b|%O|%q|%c" -42 42 42 -42 -255 255 8 5 8 97 9731}}',
     "-42|   42|42   |-0042|-ff|FF|010|101|0o10|'a'|☃"),
    ('{{printf "%v %g %e %f %.3g" 1e6 1e6 1e6 1e6 1234.5678}}', "1e+06 1e+06 1.000000e+06 1000000.000000 1.23e+03"),
    ('{{printf "%v|%q|%d" .Config.Cmd .Config.Cmd (len .Config.Cmd)}}', '[sh -c echo hi]|["sh" "-c" "echo hi"]|3'),
    ('{{printf "%d %s" "x" 5}}|{{printf "%d"}}|{{printf "%d" 1 2}}|{{printf "%s" nil}}|{{printf "%v" nil}}',
     "%!d(string=x) %!s(int=5)|%!d(MISSING)|1%!(EXTRA int=2)|%!s(<nil>)|<nil>"),
    ('{{printf "%T %T %T %T" (split "a" ",") 1 1.0 .State}}', "[]string int float64 map[string]interface {}"),
    ('{{print 1 2 "a" 3 "b" "c" nil}}|{{println 1 "a"}}', "1 2a3bc<nil>|1 a\n"),
    ('{{printf "%6.2f%%" 99.5}}', " 99.50%"),
])
def test_printf_follows_gos_verbs(src, out):
    assert run(src) == out


def test_docker_functions():
    assert run("{{json .State}}") == '{"Pid":4242,"Running":true,"Big":1000000,"Ratio":0.25}'
    assert run('{{json "<&>"}} {{json .Null}} {{json .Config.Cmd}}') == '"<&>" null ["sh","-c","echo hi"]'
    assert run('{{join .Config.Cmd " "}}|{{join (split "a,b,c" ",") "-"}}|{{split "a,b" ","}}') == "sh -c echo hi|a-b-c|[a b]"
    assert run('{{title "hello wORLD foo_bar x-y"}}|{{lower "ABC"}}|{{upper "straße"}}') == "Hello WORLD Foo_bar X-Y|abc|STRAßE"
    assert run('{{pad .Name 2 1}}|{{pad "" 2 1}}|{{truncate .Name 2}}|{{truncate "ab" 3}}') == "  web ||we|ab"
    assert run('{{len "héllo"}} {{index "héllo" 1}} {{slice "hello" 1 3}}') == "6 195 el"
    assert run('{{html "<a&b>"}} {{urlquery "a b&c"}}') == "&lt;a&amp;b&gt; a+b%26c"
    assert go_json({"b": 1.5, "a": [None, True, "x\n"]}) == '{"b":1.5,"a":[null,true,"x\\n"]}'


def test_a_template_is_parsed_once():
    assert parse("{{.Name}} once") is parse("{{.Name}} once")


@pytest.mark.parametrize("src, msg", [
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("{{.Name", "template: :1: unclosed action"),
    ("a\n{{if 1}}\n{{else}}\n{{else}}{{end}}", "template: :4: expected end; found {{else}}"),
    ("{{if}}", "template: :1: missing value for if"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{range .X}}", "template: :1: unexpected EOF"),
    ("{{$u}}", 'template: :1: undefined variable "$u"'),
    ("{{1 | 2}}", "template: :1: non executable command in pipeline stage 2"),
    ("{{3x}}", 'template: :1: bad number syntax: "3x"'),
    ('{{"open}}', "template: :1: unterminated quoted string"),
    ("{{)}}", "template: :1: unexpected right paren"),
    ("{{/* open", "template: :1: unclosed comment"),
    ("{{break}}", "template: :1: {{break}} outside {{range}}"),
    ("{{.Name.X}}", 'template: :1:7: executing "" at <.Name.X>: can\'t evaluate field X in type string'),
    ("{{.Null.X}}", 'template: :1:7: executing "" at <.Null.X>: nil pointer evaluating interface {}.X'),
    ("{{index .Config.Cmd 5}}", 'template: :1:2: executing "" at <index .Config.Cmd 5>: error calling index: '
                                "index out of range: 5"),
    ("{{upper 3}}", 'template: :1:8: executing "" at <3>: expected string; found 3'),
    ("{{upper .State.Pid}}", 'template: :1:14: executing "" at <.State.Pid>: wrong type for value; expected string; '
                             "got int"),
    ("{{join .Name}}", 'template: :1:2: executing "" at <join>: wrong number of args for join: want 2 got 1'),
    ("{{nil}}", 'template: :1:2: executing "" at <nil>: nil is not a command'),
    ("{{.Name 1}}", 'template: :1:2: executing "" at <.Name>: Name is not a method but has arguments'),
    ("{{template \"t\"}}", 'template: :1:11: executing "" at <{{template "t"}}>: template "t" not defined'),
])
def test_errors_are_gos_messages(src, msg):
    assert error_of(src) == msg


def test_a_struct_row_has_fields_and_methods_and_no_others():
    row = Struct({"Names": "web", "Label": lambda k: {"a": "1"}.get(k, "")}, "row")
    assert run('{{.Names}} {{.Label "a"}}[{{.Label "b"}}]', row) == "web 1[]"
    assert error_of("{{.Nope}}", row) == 'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type row'
    assert run("{{json .}}", row) == '{"Names":"web"}'  # methods with arguments are not in docker's JSON


def test_tabwriter_aligns_column_blocks_as_gos():
    # minwidth 10, padding 3; the last cell of a line is not padded; a line without a tab ends the block
    assert tabwrite("a\tbb\tc\nlonger-than-ten\tb\tc\nplain\nx\ty\n") == (
        "a" + " " * 17 + "bb        c\n"
        "longer-than-ten   b         c\n"
        "plain\n"
        "x         y\n")


def test_table_prefix_prints_the_header_and_aligns_the_columns():
    rows = [Struct({"ID": "abc", "Names": "a-rather-long-name", "CreatedAt": "now"}, "row"),
            Struct({"ID": "d", "Names": "n", "CreatedAt": "then"}, "row")]
    cols = [("CONTAINER ID", "ID"), ("NAMES", "Names")]
    assert format_rows("table {{.ID}}\\t{{.Names}}\\t{{.CreatedAt}}", rows, cols) == (
        "CONTAINER ID   NAMES                CREATED AT\n"
        "abc            a-rather-long-name   now\n"
        "d              n                    then\n")
    # plain `table`: the default columns; header functions keep the column names
    assert format_rows("table", rows, cols) == (
        "CONTAINER ID   NAMES\nabc            a-rather-long-name\nd              n\n")
    assert format_rows("table {{upper .Names}}\t{{json .ID}}", rows[1:], cols) == 'NAMES     CONTAINER ID\nN         "d"\n'
    assert format_rows("json", rows[1:]) == '{"CreatedAt":"then","ID":"d","Names":"n"}\n'
    assert format_rows("{{.ID}}", rows) == "abc\nd\n"


def test_formats_are_checked_before_anything_is_written():
    rows = [{"A": 1}, {"A": "x"}]
    with pytest.raises(TemplateError) as ex:
        format_rows("{{upper .A}}", rows[::-1])
    assert "expected string; got int" in str(ex.value)


def test_index_of_a_string_map_gives_its_zero_value():
    """Go: `index` of a missing key is the map's element zero value: "" for docker's
    map[string]string (an event's Attributes), nil (<no value>) for decoded JSON;
    a field of a missing key is <no value> for both."""
    from dunnage.tui.gotemplate import StrMap
    attrs = {"name": "web"}
    assert run('[{{index .A "signal"}}] [{{index .A "name"}}] [{{.A.signal}}]', {"A": StrMap(attrs)}) == \
        "[] [web] [<no value>]"
    assert run('[{{index .A "signal"}}]', {"A": attrs}) == "[<no value>]"


def test_a_plain_go_struct_prints_and_marshals_as_go_does():
    """fmt's %v of a struct value is {v v ...} in field order (compose's {{.Publishers}}:
    [{0.0.0.0 80 8080 tcp}]); encoding/json keeps the field order; docker's typed
    contexts (Structs without "struct ") still print and marshal as maps."""
    pub = Struct({"URL": "0.0.0.0", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"},
                 "struct api.PortPublisher")
    assert run("{{.P}}", {"P": [pub]}) == "[{0.0.0.0 80 8080 tcp}]"
    assert run("{{json .P}}", {"P": [pub]}) == \
        '[{"URL":"0.0.0.0","TargetPort":80,"PublishedPort":8080,"Protocol":"tcp"}]'
    assert run("{{range .P}}{{.PublishedPort}}{{end}}", {"P": [pub]}) == "8080"
    row = Struct({"b": 1, "a": 2}, "row")
    assert run("{{json .}}", row) == '{"a":2,"b":1}'
