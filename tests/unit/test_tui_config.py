"""The dashboard's settings file's [[commands]] (lazydocker's customCommands): what a good
entry gives, and a bad entry left out with one line naming it, the rest still loaded."""
from __future__ import annotations

import pytest

from dunnage.tui import config


def test_commands_are_read_with_their_defaults(tmp_path):
    f = tmp_path / "config.toml"
    f.write_text('[keys]\nlogs = "L"\n\n[[commands]]\nname = "disk usage"\nkey = "U"\n'
                 'command = "{{ .Dunnage }} exec {{ .Container.ID }} du -sh /"\n\n'
                 '[[commands]]\nname = "shell"\ncommand = "{{ .Dunnage }} exec -it {{ .Container.Name }} sh"\n'
                 'attach = true\nconfirm = true\ndescription = "a shell"\n')
    s = config.load(f)
    assert s.keys == {"logs": "L"} and s.problems == []
    assert s.commands == [
        config.CustomCommand("disk usage", "{{ .Dunnage }} exec {{ .Container.ID }} du -sh /", key="U"),
        config.CustomCommand("shell", "{{ .Dunnage }} exec -it {{ .Container.Name }} sh", attach=True,
                             confirm=True, description="a shell")]


@pytest.mark.parametrize("entry, said", [
    ('name = "a"\ncommand = "{{ .Container.Nmae }}"', "'a': command: template: :1:13: executing \"\" at "
                                                      "<.Container.Nmae>: can't evaluate field Nmae in type Container"),
    ('name = "a"\ncommand = "{{ .Container.ID "', "'a': command: template: :1: unclosed action"),
    ('name = "a"\ncommand = "x"\nattach = "yes"', "'a': attach must be true or false"),
    ('name = "a"\ncommand = "x"\nshortcut = "u"', "'a': unknown setting 'shortcut'"),
    ('name = "a"', "'a': no command"),
    ('command = "x"', "entry 1: no name"),
    ('name = " a"\ncommand = "x"', "' a': a name is one line"),
    ('name = "a"\ncommand = "x"\nkey = "u,ctrl-u"', "'a': key 'ctrl-u' is not a key"),
    ('name = "a"\ncommand = "x"\nscope = "image"', "'a': scope must be one of container, project"),
    ('name = "a"\ncommand = "{{ .Container.ID }}"\nscope = "project"', "'a': command: template: :1:13: executing \"\" at "
                                                                     "<.Container.ID>: can't evaluate field Container"),
])
def test_a_bad_entry_is_left_out_in_one_line_naming_it(tmp_path, entry, said):
    f = tmp_path / "config.toml"
    f.write_text(f'[[commands]]\n{entry}\n\n[[commands]]\nname = "fine"\ncommand = "echo {{{{ .Container.Name }}}}"\n')
    s = config.load(f)
    assert [c.name for c in s.commands] == ["fine"]
    assert len(s.problems) == 1 and "\n" not in s.problems[0]
    assert s.problems[0].startswith(f"{f}: [[commands]] {said}")


def test_a_second_command_of_a_name_and_a_commands_table_are_said(tmp_path):
    f = tmp_path / "config.toml"
    f.write_text('[[commands]]\nname = "a"\ncommand = "x"\n[[commands]]\nname = "A"\ncommand = "y"\n')
    s = config.load(f)
    assert [c.command for c in s.commands] == ["x"] and "'A': a second command of that name" in s.problems[0]
    f.write_text('[commands]\nname = "a"\ncommand = "x"\n')
    s = config.load(f)
    assert s.commands == [] and s.problems == [f"{f}: commands must be [[commands]] entries "
                                               "(name, command, key, attach, confirm)"]


def test_the_template_sees_lazydockers_names():
    from dunnage.tui.gotemplate import parse
    data = config.template_data({"ID": "ab" * 32, "Name": "web-1", "Image": "nginx:1", "State": "running",
                                 "Status": "Up 2 minutes", "Labels": {"com.docker.compose.project": "shop",
                                                                      "com.docker.compose.service": "web"}},
                                "dunnage --root /r")
    text = parse("{{ .Container.ID }} {{ .Container.Name }} {{ .Container.ShortID }} {{ .Container.ProjectName }}/"
                 "{{ .Container.ServiceName }} {{ .Container.Container.Image }} {{ index .Container.Container.Names 0 }}"
                 " {{ .DockerCompose }}").execute(data)
    assert text == f"{'ab' * 32} web-1 {'ab' * 6} shop/web nginx:1 /web-1 dunnage --root /r compose"


def test_a_project_commands_template_sees_the_project():
    from dunnage.tui.gotemplate import parse
    data = config.project_data("shop", "/srv/shop", ["/srv/shop/compose.yaml"], ["shop-web-1", "shop-db-1"],
                               "dunnage --root /r")
    text = parse("{{ .Project.Name }} {{ .Project.WorkingDir }} {{ index .Project.ConfigFiles 0 }} "
                 "{{ len .Project.Containers }} {{ .DockerCompose }}").execute(data)
    assert text == "shop /srv/shop /srv/shop/compose.yaml 2 dunnage --root /r compose"
