"""The compose model (dunnage.compose.model): files found, interpolated, validated,
merged, extended, included and normalised as compose-go does, without an engine."""
from __future__ import annotations

import re
import textwrap

import pytest

from dunnage.compose.interpolate import InterpolationError, parse_dotenv, substitute
from dunnage.compose.model import ComposeError, Options, load, normalize_project_name, parse_port, parse_volume
from dunnage.core.errors import DunnageError, NotFound


def write(d, name, text):
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


def project(d, environ=None, **kw):
    return load(Options(cwd=str(d), environ=environ or {}, **kw))


# ------------------------------------------------------------------ interpolation
ENV = {"SET": "v", "EMPTY": ""}


@pytest.mark.parametrize("text, want", [
    ("${SET}", "v"), ("$SET", "v"), ("a${SET}b", "avb"), ("$$SET", "$SET"), ("$${SET}", "${SET}"),
    ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""), ("${UNSET-d}", "d"), ("${SET:-d}", "v"),
    ("${UNSET:-${SET}}", "v"), ("${SET:+r}", "r"), ("${EMPTY:+r}", ""), ("${EMPTY+r}", "r"), ("${UNSET}", ""),
    ("50$", "50$"), ("$1", "$1"),
])
def test_substitution(text, want):
    assert substitute(text, ENV.get) == want


@pytest.mark.parametrize("text, msg", [
    ("${UNSET:?give it}", "required variable UNSET is missing a value: give it"),
    ("${EMPTY:?}", "required variable EMPTY is missing a value"),
    ("${UNSET?x}", "required variable UNSET is missing a value: x"),
    ("${SET", "does not close"),
    ("${-x}", "is no variable"),
])
def test_substitution_errors(text, msg):
    with pytest.raises(InterpolationError, match=msg.replace("$", r"\$").replace("{", r"\{")):
        substitute(text, ENV.get)


def test_substitution_allows_empty_with_plain_question_mark():
    assert substitute("${EMPTY?x}", ENV.get) == ""


def test_unset_variable_warns():
    warnings = []
    assert substitute("a${NOPE}", {}.get, warnings.append) == "a"
    assert warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']


def test_dotenv():
    text = textwrap.dedent("""\
        # comment
        A=1
        export B = two words  # trailing
        C='single $A'
        D="double $A\\n${B}"
        E=${A}x
        F
        G=
        H="multi
        line"
        """)
    assert parse_dotenv(text, {"F": "from-env"}.get) == {
        "A": "1", "B": "two words", "C": "single $A", "D": "double 1\ntwo words", "E": "1x", "F": "from-env",
        "G": "", "H": "multi\nline"}


def test_dotenv_bad_key():
    with pytest.raises(DunnageError, match="unexpected character"):
        parse_dotenv("A B=1\n")


# ------------------------------------------------------------------ files and names
def test_finds_compose_yaml_and_its_override_from_a_subdirectory(tmp_path):
    write(tmp_path, "compose.yaml", "services: {a: {image: x, environment: [K=base]}}\n")
    write(tmp_path, "compose.override.yaml", "services: {a: {environment: {K: over}}}\n")
    write(tmp_path, "docker-compose.yml", "services: {b: {image: y}}\n")
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    p = project(sub)
    assert p.config_files == [str(tmp_path / "compose.yaml"), str(tmp_path / "compose.override.yaml")]
    assert p.working_dir == str(tmp_path)
    assert list(p.services) == ["a"] and p.services["a"]["environment"] == {"K": "over"}


def test_older_file_names(tmp_path):
    write(tmp_path, "docker-compose.yml", "services: {b: {image: y}}\n")
    write(tmp_path, "docker-compose.override.yml", "services: {b: {command: echo hi}}\n")
    p = project(tmp_path)
    assert p.services["b"]["command"] == ["echo", "hi"]


def test_no_file(tmp_path):
    with pytest.raises(NotFound, match="no configuration file provided"):
        project(tmp_path)


@pytest.mark.parametrize("dirname, want", [("My_App", "my_app"), ("web.site", "website"), ("_x-y", "x-y")])
def test_project_name_from_directory(tmp_path, dirname, want):
    d = tmp_path / dirname
    write(d, "compose.yaml", "services: {a: {image: x}}\n")
    assert project(d).name == want
    assert normalize_project_name(dirname) == want


def test_project_name_precedence(tmp_path):
    write(tmp_path, "compose.yaml", "name: fromfile\nservices: {a: {image: x}}\n")
    assert project(tmp_path).name == "fromfile"
    write(tmp_path, ".env", "COMPOSE_PROJECT_NAME=fromdotenv\n")
    assert project(tmp_path).name == "fromdotenv"
    assert project(tmp_path, {"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert project(tmp_path, {"COMPOSE_PROJECT_NAME": "fromenv"}, project_name="flag").name == "flag"
    with pytest.raises(ComposeError, match='invalid project name "Bad"'):
        project(tmp_path, project_name="Bad")


def test_several_files_merge(tmp_path):
    write(tmp_path, "a.yaml", """\
        services:
          web:
            image: one
            command: [a, b]
            environment: {A: "1", B: "1"}
            ports: ["80"]
            volumes: ["./x:/data", "/cache"]
            labels: [l1=a]
            dns: 1.1.1.1
            healthcheck: {test: [CMD, a], interval: 5s}
        """)
    write(tmp_path, "b.yaml", """\
        services:
          web:
            image: two
            command: c
            environment: [B=2]
            ports: ["80", "81"]
            volumes: ["vol:/data"]
            labels: {l2: b}
            dns: [8.8.8.8]
            healthcheck: {retries: 3}
          extra: {image: z}
        volumes: {vol: {}}
        """)
    p = project(tmp_path, files=["a.yaml", "b.yaml"])
    web = p.services["web"]
    assert web["image"] == "two" and web["command"] == ["c"]
    assert web["environment"] == {"A": "1", "B": "2"}
    assert [x["target"] for x in web["ports"]] == [80, 81]
    assert web["volumes"] == [{"type": "volume", "source": "vol", "target": "/data", "volume": {}},
                              {"type": "volume", "target": "/cache", "volume": {}}]
    assert web["labels"] == {"l1": "a", "l2": "b"}
    assert web["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert web["healthcheck"] == {"test": ["CMD", "a"], "interval": "5s", "retries": 3}
    assert p.config_files == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]


def test_reset_and_override_tags(tmp_path):
    write(tmp_path, "a.yaml", "services: {web: {image: x, ports: ['80'], environment: {A: '1', B: '2'}}}\n")
    write(tmp_path, "b.yaml", "services: {web: {ports: !reset [], environment: !override {C: '3'}}}\n")
    web = project(tmp_path, files=["a.yaml", "b.yaml"]).services["web"]
    assert "ports" not in web and web["environment"] == {"C": "3"}


def test_interpolation_from_dotenv_and_environment(tmp_path):
    write(tmp_path, ".env", "TAG=1.0\nPORT=8000\n")
    write(tmp_path, "compose.yaml", """\
        services:
          web:
            image: "busybox:${TAG}"
            ports: ["${PORT}:80"]
            command: echo $$HOME ${MISSING:-none}
        """)
    p = project(tmp_path, {"PORT": "9000"})
    web = p.services["web"]
    assert web["image"] == "busybox:1.0" and web["ports"][0]["published"] == "9000"
    assert web["command"] == ["echo", "$HOME", "none"]
    write(tmp_path, "other.env", "TAG=2.0\n")
    assert project(tmp_path, env_files=["other.env"]).services["web"]["image"] == "busybox:2.0"


def test_required_variable(tmp_path):
    write(tmp_path, "compose.yaml", "services: {web: {image: '${IMAGE:?set IMAGE}'}}\n")
    with pytest.raises(InterpolationError, match="required variable IMAGE is missing a value: set IMAGE"):
        project(tmp_path)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("text, msg", [
    ("services: {web: {imagee: x}}", "services.web additional properties 'imagee' not allowed"),
    ("servics: {}", "(root) additional properties 'servics' not allowed"),
    ("services: {web: {image: x, ports: 80}}", "services.web.ports must be a list"),
    ("services: {web: {image: x, healthcheck: {tst: x}}}", "services.web.healthcheck additional properties 'tst'"),
    ("services: {web: {image: x, deploy: {resources: {limits: {memroy: 1}}}}}",
     "services.web.deploy.resources.limits additional properties 'memroy'"),
    ("services: {web: {image: x, volumes: [{type: bind, sorce: .}]}}",
     "services.web.volumes.0 additional properties 'sorce'"),
    ("services: {web: {image: x, privileged: 'yes'}}", "services.web.privileged must be a boolean"),
    ("services: {web: {image: x, depends_on: {db: {condition: started}}}}",
     "services.web.depends_on.db.condition must be one of"),
    ("services: {web: {image: x}}\nnetworks: {n: {interal: true}}", "networks.n additional properties 'interal'"),
    ("services: {web: {image: x, restart: sometimes}}", 'invalid restart policy "sometimes"'),
])
def test_schema_names_the_path(tmp_path, text, msg):
    write(tmp_path, "compose.yaml", text + "\n")
    with pytest.raises(DunnageError) as ex:
        project(tmp_path)
    assert msg in str(ex.value) and str(tmp_path / "compose.yaml") in str(ex.value)
    assert "\n" not in str(ex.value)


def test_extension_keys_allowed(tmp_path):
    write(tmp_path, "compose.yaml", """\
        x-common: &common {image: x, environment: [A=1]}
        services:
          web: {<<: *common, x-note: hi}
        """)
    assert project(tmp_path).services["web"]["environment"] == {"A": "1"}


@pytest.mark.parametrize("text, msg", [
    ("services: {web: {image: x, depends_on: [db]}}", 'service "web" depends on undefined service "db"'),
    ("services: {web: {image: x, networks: [back]}}", 'service "web" refers to undefined network back'),
    ("services: {web: {image: x, volumes: ['data:/d']}}", 'service "web" refers to undefined volume data'),
    ("services: {web: {image: x, ports: ['x:80']}}", 'invalid port "x:80"'),
    ("services: {web: {image: x, volumes: ['data']}}", 'invalid mount path "data"'),
    ("services: [a]", "services must be a mapping"),
    ("", "empty compose file"),
    ("services: {a: {image: x}\n", "yaml:"),
])
def test_model_errors(tmp_path, text, msg):
    write(tmp_path, "compose.yaml", text + "\n")
    with pytest.raises(DunnageError, match=msg.replace("[", r"\[").replace("(", r"\(")):
        project(tmp_path)


def test_dependency_cycle(tmp_path):
    write(tmp_path, "compose.yaml", "services: {a: {image: x, depends_on: [b]}, b: {image: x, depends_on: [a]}}\n")
    with pytest.raises(ComposeError, match="dependency cycle detected"):
        project(tmp_path).service_order()


# ------------------------------------------------------------------ short and long syntax
@pytest.mark.parametrize("spec, want", [
    ("80", [{"mode": "ingress", "target": 80, "protocol": "tcp"}]),
    ("8080:80", [{"mode": "ingress", "target": 80, "protocol": "tcp", "published": "8080"}]),
    ("127.0.0.1:8080:80/udp", [{"mode": "ingress", "target": 80, "protocol": "udp", "published": "8080",
                                "host_ip": "127.0.0.1"}]),
    ("[::1]::80", [{"mode": "ingress", "target": 80, "protocol": "tcp", "host_ip": "::1"}]),
    ("8000-8001:80-81", [{"mode": "ingress", "target": 80, "protocol": "tcp", "published": "8000"},
                         {"mode": "ingress", "target": 81, "protocol": "tcp", "published": "8001"}]),
    (9090, [{"mode": "ingress", "target": 9090, "protocol": "tcp"}]),
    ({"target": 80, "published": 8080, "host_ip": "127.0.0.1"},
     [{"mode": "ingress", "target": 80, "protocol": "tcp", "published": "8080", "host_ip": "127.0.0.1"}]),
])
def test_ports(spec, want):
    assert parse_port(spec, "w") == want


@pytest.mark.parametrize("spec, want", [
    ("/data", {"type": "volume", "target": "/data", "volume": {}}),
    ("db:/var/lib/db", {"type": "volume", "source": "db", "target": "/var/lib/db", "volume": {}}),
    ("db:/d:ro", {"type": "volume", "source": "db", "target": "/d", "volume": {}, "read_only": True}),
    ("./site:/www:ro", {"type": "bind", "source": "/proj/site", "target": "/www", "read_only": True,
                        "bind": {"create_host_path": True}}),
    ("/abs:/a", {"type": "bind", "source": "/abs", "target": "/a", "bind": {"create_host_path": True}}),
    ({"type": "bind", "source": "../up", "target": "/u", "read_only": True},
     {"type": "bind", "source": "/up", "target": "/u", "read_only": True, "bind": {"create_host_path": True}}),
    ({"type": "tmpfs", "target": "/t", "tmpfs": {"size": 1000}}, {"type": "tmpfs", "target": "/t",
                                                                  "tmpfs": {"size": 1000}}),
])
def test_volumes(spec, want):
    assert parse_volume(spec, "/proj", "w") == want


def test_normalisation(tmp_path):
    write(tmp_path, "env/web.env", "FROM_FILE=1\nOVER=file\n")
    write(tmp_path, "compose.yaml", """\
        services:
          web:
            image: x
            entrypoint: /bin/sh -c
            env_file: env/web.env
            environment: {OVER: given, PASS: null, BOOL: true}
            depends_on:
              db: {condition: service_healthy}
            networks: {front: {aliases: [www]}}
            extra_hosts: {somehost: 1.2.3.4}
            healthcheck: {test: curl -f localhost}
          db:
            image: x
            networks: [back]
            build: ./db
        networks:
          front: {}
          back: {internal: true}
          outside: {external: true}
        volumes:
          named: {name: exact}
        """)
    p = project(tmp_path, {"PASS": "through"})
    web = p.services["web"]
    assert web["entrypoint"] == ["/bin/sh", "-c"]
    assert web["environment"] == {"FROM_FILE": "1", "OVER": "given", "PASS": "through", "BOOL": "true"}
    assert web["depends_on"] == {"db": {"condition": "service_healthy", "required": True}}
    assert web["networks"] == {"front": {"aliases": ["www"]}}
    assert web["extra_hosts"] == ["somehost:1.2.3.4"]
    assert web["healthcheck"]["test"] == ["CMD-SHELL", "curl -f localhost"]
    assert p.services["db"]["build"] == {"context": str(tmp_path / "db"), "dockerfile": "Dockerfile"}
    name = p.name
    assert p.networks == {"front": {"name": f"{name}_front"}, "back": {"name": f"{name}_back", "internal": True},
                          "outside": {"name": "outside", "external": True}}
    assert p.volumes == {"named": {"name": "exact"}}
    assert p.service_order() == ["db", "web"]


def test_default_network_only_when_used(tmp_path):
    write(tmp_path, "compose.yaml", "name: p\nservices: {a: {image: x}, b: {image: x, network_mode: host}}\n")
    p = project(tmp_path)
    assert p.services["a"]["networks"] == {"default": None} and "networks" not in p.services["b"]
    assert p.networks == {"default": {"name": "p_default"}}


def test_profiles(tmp_path):
    write(tmp_path, "compose.yaml", """\
        services:
          app: {image: x}
          debug: {image: x, profiles: [debug], depends_on: [tool]}
          tool: {image: x, profiles: [tools]}
        """)
    assert set(project(tmp_path).services) == {"app"}
    assert set(project(tmp_path, profiles=["tools"]).services) == {"app", "tool"}
    assert set(project(tmp_path, {"COMPOSE_PROFILES": "*"}).services) == {"app", "debug", "tool"}
    with pytest.raises(ComposeError, match='depends on disabled service "tool"'):
        project(tmp_path, profiles=["debug"])
    p = load(Options(cwd=str(tmp_path), environ={}), requested=["debug"])
    assert set(p.services) == {"app", "debug", "tool"}


def test_extends(tmp_path):
    write(tmp_path, "base/common.yaml", """\
        services:
          base:
            image: x
            environment: {A: "1", B: "1"}
            volumes: ["./data:/data"]
        """)
    write(tmp_path, "compose.yaml", """\
        services:
          local: {image: y, command: [sleep, "1"]}
          web:
            extends: {file: base/common.yaml, service: base}
            environment: {B: "2"}
          worker:
            extends: web
            command: work
          again:
            extends: local
        """)
    p = project(tmp_path)
    assert p.services["web"]["environment"] == {"A": "1", "B": "2"}
    assert p.services["web"]["volumes"][0]["source"] == str(tmp_path / "base" / "data")
    assert p.services["worker"]["command"] == ["work"] and p.services["worker"]["image"] == "x"
    assert p.services["again"] == {"image": "y", "command": ["sleep", "1"], "networks": {"default": None}}
    assert "extends" not in p.services["web"]


def test_extends_cycle(tmp_path):
    write(tmp_path, "compose.yaml", "services: {a: {image: x, extends: b}, b: {image: x, extends: a}}\n")
    with pytest.raises(ComposeError, match="circular reference"):
        project(tmp_path)


def test_include(tmp_path):
    write(tmp_path, "db/compose.yaml", """\
        services:
          db: {image: "db:${DB_TAG}", volumes: ["./init:/init"]}
        volumes: {dbdata: {}}
        """)
    write(tmp_path, "db/.env", "DB_TAG=15\n")
    write(tmp_path, "compose.yaml", """\
        include: [db/compose.yaml]
        services:
          app: {image: x, depends_on: [db]}
        """)
    p = project(tmp_path)
    assert p.services["db"]["image"] == "db:15"
    assert p.services["db"]["volumes"][0]["source"] == str(tmp_path / "db" / "init")
    assert "dbdata" in p.volumes
    write(tmp_path, "compose.yaml", "include: [db/compose.yaml]\nservices: {db: {image: other}}\n")
    with pytest.raises(ComposeError, match="services.db conflicts with imported resource"):
        project(tmp_path)


def test_config_hash_changes_with_the_service_only(tmp_path):
    write(tmp_path, "compose.yaml", "services: {a: {image: x, scale: 2}, b: {image: x}}\n")
    h1 = project(tmp_path)
    write(tmp_path, "compose.yaml", "services: {a: {image: x, scale: 3}, b: {image: x, command: hi}}\n")
    h2 = project(tmp_path)
    assert h1.config_hash("a") == h2.config_hash("a") and h1.config_hash("b") != h2.config_hash("b")
    assert h2.replicas("a") == 3 and h2.replicas("b") == 1


def test_config_yaml_round_trips(tmp_path):
    import yaml
    write(tmp_path, "compose.yaml", "name: demo\nservices: {a: {image: x, ports: ['8080:80']}}\n")
    p = project(tmp_path)
    text = p.yaml()
    assert text.startswith("name: demo\nservices:\n")
    doc = yaml.safe_load(text)
    assert doc["services"]["a"]["ports"] == [{"mode": "ingress", "target": 80, "published": "8080",
                                              "protocol": "tcp"}]
    write(tmp_path, "again.yaml", text)
    assert project(tmp_path, files=["again.yaml"]).to_dict() == p.to_dict()


def test_yaml_booleans_in_argv_are_refused(tmp_path):
    """`false` unquoted is YAML's boolean, which the schema's string items refuse (a
    boolean handed on as a health check's argument had killed the container's shim)."""
    write(tmp_path, "compose.yaml", "services: {a: {image: x, healthcheck: {test: [CMD, false]}}}\n")
    with pytest.raises(DunnageError, match="services.a.healthcheck.test.1 must be a string"):
        project(tmp_path)
    write(tmp_path, "compose.yaml", "services: {a: {image: x, command: [echo, true]}}\n")
    with pytest.raises(DunnageError, match="services.a.command.1 must be a string"):
        project(tmp_path)
    write(tmp_path, "compose.yaml", "services: {a: {image: x, command: [sleep, 1], healthcheck: {test: [CMD, 'false']}}}\n")
    a = project(tmp_path).services["a"]
    assert a["command"] == ["sleep", "1"] and a["healthcheck"]["test"] == ["CMD", "false"]


def test_secrets_and_configs(tmp_path):
    write(tmp_path, "compose.yaml", """\
        services:
          a: {image: x, secrets: [token], configs: [{source: conf, target: /etc/app.conf}]}
        secrets:
          token: {file: ./token.txt}
        configs:
          conf: {file: conf/app.conf}
        """)
    p = project(tmp_path)
    assert p.extras["secrets"]["token"]["file"] == str(tmp_path / "token.txt")
    assert p.extras["configs"]["conf"]["file"] == str(tmp_path / "conf" / "app.conf")
    write(tmp_path, "compose.yaml", "services: {a: {image: x, secrets: [nope]}}\n")
    with pytest.raises(ComposeError, match='service "a" refers to undefined secret nope'):
        project(tmp_path)


def test_project_directory_and_env_file_options(tmp_path):
    write(tmp_path, "files/compose.yaml", "services: {a: {image: 'x:${TAG}', volumes: ['./data:/d']}}\n")
    write(tmp_path, "proj/.env", "TAG=fromproj\n")
    p = project(tmp_path, files=["files/compose.yaml"], project_directory="proj")
    assert p.working_dir == str(tmp_path / "proj") and p.name == "proj"
    assert p.services["a"]["image"] == "x:fromproj"
    assert p.services["a"]["volumes"][0]["source"] == str(tmp_path / "proj" / "data")


def test_secrets_and_configs_from_the_environment_and_content(tmp_path):
    from dunnage.compose.project import file_contents
    write(tmp_path, "compose.yaml", """\
        services:
          a:
            image: x
            secrets: [token, {source: token, target: again, uid: '1000', gid: '7', mode: 0400}]
            configs: [{source: conf, target: /etc/app.conf, mode: '0640'}, plain]
        secrets:
          token: {environment: TOKEN}
        configs:
          conf: {content: 'level=${LEVEL:-info}'}
          plain: {file: ./plain.txt}
        """)
    p = project(tmp_path, {"TOKEN": "s3cret"})
    assert p.file_content("secrets", "token") == "s3cret"
    assert p.file_content("configs", "conf") == "level=info"
    assert p.file_content("configs", "plain") is None
    assert file_contents(p, "a") == [("/run/secrets/token", b"s3cret", 0o444, 0, 0),
                                     ("/run/secrets/again", b"s3cret", 0o400, 1000, 7),
                                     ("/etc/app.conf", b"level=info", 0o640, 0, 0)]
    # the variable is looked up when the value is needed (compose config works without it)
    p = project(tmp_path)
    with pytest.raises(ComposeError, match=r'^environment variable "TOKEN" required by secret "'
                                           + tmp_path.name.lower() + '_token" is not set$'):
        file_contents(p, "a")


@pytest.mark.parametrize("text, msg", [
    ("services: {a: {image: x, secrets: [s]}}\nsecrets: {s: {name: n}}\n",
     'secret "s" must declare either `file` or `environment`: invalid compose project'),
    ("services: {a: {image: x}}\nsecrets: {s: {content: x}}\n", "secrets.s additional properties 'content' not allowed"),
    ("services: {a: {image: x, configs: [c]}}\nconfigs: {c: {}}\n", 'config "c" must declare either'),
    ("services: {a: {image: x, secrets: [{source: s, uid: 1000}]}}\nsecrets: {s: {file: f}}\n",
     "services.a.secrets.0.uid must be a string"),
    ("services: {a: {image: x, secrets: [{source: s, uid: root}]}}\nsecrets: {s: {file: f}}\n",
     'secrets.s.uid "root" is not a number'),
    ("services: {a: {image: x, configs: [{source: c, mode: '0999'}]}}\nconfigs: {c: {content: x}}\n",
     'configs.c.mode "0999" is not an octal file mode'),
    ("services: {a: {image: x, mem_reservation: 20m, deploy: {resources: {reservations: {memory: 32m}}}}}\n",
     "services.a: can't set distinct values on 'mem_reservation' and 'deploy.resources.reservations.memory': "
     "invalid compose project"),
    ("services: {a: {image: x, deploy: {resources: {reservations: {devices: [{driver: nvidia}]}}}}}\n",
     "services.a.deploy.resources.reservations.devices.0 capabilities is required"),
    ("services: {a: {image: x, deploy: {resources: {reservations: {devices: [{capabilities: [gpu], gpu: 1}]}}}}}\n",
     "services.a.deploy.resources.reservations.devices.0 additional properties 'gpu' not allowed"),
])
def test_bad_secrets_configs_and_devices_are_named(tmp_path, text, msg):
    write(tmp_path, "compose.yaml", text)
    with pytest.raises(DunnageError, match=re.escape(msg)):
        project(tmp_path)


def test_resources_as_compose_maps_them(tmp_path):
    from dunnage.compose.project import check_devices, resources_of
    svc = {"mem_limit": "32m", "mem_reservation": "8m", "cpus": 1, "pids_limit": 10,
           "deploy": {"resources": {"limits": {"memory": "64m", "cpus": "0.5"},
                                    "reservations": {"memory": "16m", "cpus": "0.25"}}}}
    assert resources_of(svc) == {"memory": "64m", "cpus": "0.5", "pids_limit": 10, "memory_swap": None,
                                 "memory_reservation": "16m"}
    assert resources_of({"mem_reservation": "8m"})["memory_reservation"] == "8m"
    write(tmp_path, "compose.yaml", "services: {a: {image: x, mem_reservation: 16m, "
                                    "deploy: {resources: {reservations: {memory: 16777216}}}}}\n")
    assert project(tmp_path).services["a"]["mem_reservation"] == "16m"  # the same bytes: no conflict
    check_devices("a", svc)  # no devices: nothing to refuse
    svc["deploy"]["resources"]["reservations"]["devices"] = [{"capabilities": ["gpu", "utility"], "count": "all"}]
    with pytest.raises(DunnageError, match=re.escape('could not select device driver "" with capabilities: '
                                                     "[[gpu utility]]")):
        check_devices("a", svc)
    for gpus, caps in (("all", "gpu"), ([{"driver": "nvidia", "capabilities": ["utility"]}], "utility gpu")):
        with pytest.raises(DunnageError, match=re.escape(f"with capabilities: [[{caps}]]")):
            check_devices("a", {"gpus": gpus})


def test_plain_scalars_are_read_as_compose_reads_them(tmp_path):
    """compose's YAML is Go's yaml.v3 (the 1.2 core schema), not YAML 1.1: `restart: no`
    and on/off/yes are words, `22:22` is no base-60 number (1342) but a port mapping, a date
    stays text; 0440 and 0o440 are octal, 1_000 is a thousand."""
    write(tmp_path, "compose.yaml", """\
        services:
          web:
            image: x
            restart: no
            ports: [22:22, 8080:80]
            environment: {A: yes, B: off, C: 2024-01-01, D: 1_000, E: true}
            secrets: [{source: s, mode: 0440}, {source: t, mode: 0o440}]
        secrets: {s: {file: f}, t: {file: g}}
        """)
    web = project(tmp_path).services["web"]
    assert web["restart"] == "no"
    assert [(p["published"], p["target"]) for p in web["ports"]] == [("22", 22), ("8080", 80)]
    assert web["environment"] == {"A": "yes", "B": "off", "C": "2024-01-01", "D": "1000", "E": "true"}
    assert [s["mode"] for s in web["secrets"]] == [0o440, 0o440]
