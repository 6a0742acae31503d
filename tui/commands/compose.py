"""Compose: `dunnage compose [-f FILE]... [-p NAME] [--profile P]... [--env-file F]
[--project-directory D] COMMAND`, Docker Compose v2's command line over dunnage.compose
(the model in compose/model.py, the verbs on the engine in compose/project.py).

Progress lines go to standard error (" Container p-web-1  Started"), as compose's plain
progress writes them; listings and logs to standard output."""
from __future__ import annotations

import argparse


def _verb(name: str):
    """The verb NAME of compose_verbs, imported when it runs."""
    def run(e, a) -> int:
        from dunnage.tui.commands import compose_verbs
        return getattr(compose_verbs, name)(e, a)
    return run


# ------------------------------------------------------------------ the parser
def register(sub) -> None:
    p = sub.add_parser("compose", help="define and run multi-container applications (the Compose Specification)")
    p.add_argument("-f", "--file", action="append", help="compose configuration file(s)")
    p.add_argument("-p", "--project-name", help="project name")
    p.add_argument("--profile", action="append", help="enable a profile")
    p.add_argument("--env-file", action="append", help="an environment file instead of .env")
    p.add_argument("--project-directory", help="the working directory (default: the first file's)")
    verbs = p.add_subparsers(dest="compose_command", metavar="COMMAND", required=True)

    def verb(name, fn, help, services=True):
        v = verbs.add_parser(name, help=help)
        v.set_defaults(fn=_verb(fn))
        if services:
            v.add_argument("services", nargs="*", metavar="SERVICE")
        return v

    v = verb("up", "cmd_up", "create and start containers")
    v.add_argument("-d", "--detach", action="store_true")
    v.add_argument("--build", action="store_true")
    v.add_argument("--no-build", action="store_true")
    v.add_argument("--force-recreate", action="store_true")
    v.add_argument("--no-recreate", action="store_true")
    v.add_argument("--no-deps", action="store_true")
    v.add_argument("--remove-orphans", action="store_true")
    v.add_argument("--scale", action="append", metavar="SERVICE=NUM")
    v.add_argument("--wait", action="store_true", help="wait for services to be running or healthy (with -d)")
    v.add_argument("--wait-timeout", type=float)
    v.add_argument("--abort-on-container-exit", action="store_true")
    v.add_argument("--no-color", action="store_true")

    v = verb("create", "cmd_create", "create containers")
    v.add_argument("--force-recreate", action="store_true")
    v.add_argument("--no-recreate", action="store_true")
    v.add_argument("--remove-orphans", action="store_true")
    v.add_argument("--scale", action="append", metavar="SERVICE=NUM")
    v.add_argument("--build", action="store_true")
    v.add_argument("--no-build", action="store_true")

    v = verb("down", "cmd_down", "stop and remove containers, networks", services=False)
    v.add_argument("-v", "--volumes", action="store_true", help="remove named volumes too")
    v.add_argument("--rmi", choices=("local", "all"))
    v.add_argument("--remove-orphans", action="store_true")
    v.add_argument("-t", "--timeout", type=int)

    v = verb("ps", "cmd_ps", "list containers")
    v.add_argument("-a", "--all", action="store_true")
    v.add_argument("-q", "--quiet", action="store_true")
    v.add_argument("--services", dest="services_only", action="store_true")
    v.add_argument("--status", action="append")
    v.add_argument("--format")

    v = verb("logs", "cmd_logs", "view output from containers")
    v.add_argument("-f", "--follow", action="store_true")
    v.add_argument("-t", "--timestamps", action="store_true")
    v.add_argument("-n", "--tail")
    v.add_argument("--no-color", action="store_true")

    verb("start", "cmd_start", "start services")
    v = verb("stop", "cmd_stop", "stop services")
    v.add_argument("-t", "--timeout", type=int)
    v = verb("restart", "cmd_restart", "restart services")
    v.add_argument("-t", "--timeout", type=int)
    v = verb("kill", "cmd_kill", "kill containers")
    v.add_argument("-s", "--signal", default="SIGKILL")
    verb("pause", "cmd_pause", "pause services")
    verb("unpause", "cmd_unpause", "unpause services")
    v = verb("rm", "cmd_rm", "remove stopped containers")
    v.add_argument("-f", "--force", action="store_true")
    v.add_argument("-s", "--stop", action="store_true")
    v.add_argument("-v", "--volumes", action="store_true")

    v = verb("exec", "cmd_exec", "run a command in a running container", services=False)
    v.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    v.add_argument("-d", "--detach", action="store_true")
    v.add_argument("-u", "--user")
    v.add_argument("-w", "--workdir")
    v.add_argument("-e", "--env", action="append")
    v.add_argument("--index", type=int, default=1)
    v.add_argument("service")
    v.add_argument("command", nargs=argparse.REMAINDER)

    v = verb("run", "cmd_run", "run a one-off command on a service", services=False)
    v.add_argument("--rm", action="store_true")
    v.add_argument("-d", "--detach", action="store_true")
    v.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    v.add_argument("-e", "--env", action="append")
    v.add_argument("-l", "--label", action="append")
    v.add_argument("--entrypoint")
    v.add_argument("--name")
    v.add_argument("-u", "--user")
    v.add_argument("-w", "--workdir")
    v.add_argument("--no-deps", action="store_true")
    v.add_argument("--service-ports", action="store_true")
    v.add_argument("service")
    v.add_argument("command", nargs=argparse.REMAINDER)

    v = verb("config", "cmd_config", "the resolved compose model", services=False)
    v.add_argument("-q", "--quiet", action="store_true", help="only validate")
    v.add_argument("--services", dest="services_only", action="store_true")
    v.add_argument("--volumes", dest="volumes_only", action="store_true")
    v.add_argument("--networks", dest="networks_only", action="store_true")
    v.add_argument("--images", action="store_true")
    v.add_argument("--profiles", action="store_true")
    v.add_argument("--format", choices=("yaml", "json"), default="yaml")
    v.add_argument("-o", "--output")

    verb("top", "cmd_top", "the running processes")
    v = verb("port", "cmd_port", "the public port of a port binding", services=False)
    v.add_argument("--protocol", default="tcp", choices=("tcp", "udp", "sctp"))
    v.add_argument("--index", type=int, default=1)
    v.add_argument("service")
    v.add_argument("private_port")
    v = verb("images", "cmd_images", "the images used by the created containers")
    v.add_argument("-q", "--quiet", action="store_true")
    v.add_argument("--format")
    v = verb("ls", "cmd_ls", "list running compose projects", services=False)
    v.add_argument("-a", "--all", action="store_true")
    v.add_argument("-q", "--quiet", action="store_true")
    v.add_argument("--format")
    v.add_argument("--filter", action="append")
    v = verb("pull", "cmd_pull", "pull service images")
    v.add_argument("--ignore-pull-failures", action="store_true")
    v.add_argument("-q", "--quiet", action="store_true")
    verb("push", "cmd_push", "push service images")
    v = verb("build", "cmd_build", "build or rebuild services")
    v.add_argument("--no-cache", action="store_true")
    v.add_argument("--pull", action="store_true")
    v.add_argument("-q", "--quiet", action="store_true")
    v.add_argument("--build-arg", action="append")
    v = verb("events", "cmd_events", "the containers' events")
    v.add_argument("--json", action="store_true")
