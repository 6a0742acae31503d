"""The service: HTTP/1.1 on a unix socket, one thread per connection.

http.server's ThreadingHTTPServer on AF_UNIX: keep-alive connections (the docker CLI
and docker-py keep theirs), chunked streams for logs and pulls, and the hijacked
connection of attach and exec start (101 UPGRADED, then docker's raw stream).  A
thread per connection serves many clients at once, and the engine's verbs block
(they take the store's locks, spawn shims) as the command line's do.  Each request
builds its Engine on the root, so the service sees what the command line and the
dashboard do at once."""
from __future__ import annotations

import io
import json
import os
import select
import signal
import socket
import stat
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from .version import API_VERSION
from .errors import ApiError, NotModified, from_engine
from .responses import Hijack, Response, Stream

MAX_BODY = 16 << 20
MAX_ARCHIVE_BODY = 64 << 30  # a handler marked archive_body: a tar, spooled to the store's disk
TOO_LARGE = "http: request body too large"  # Go's net/http (MaxBytesReader), dockerd's server


class Request:
    def __init__(self, handler: "Handler", method: str, params: dict, query: dict, body,
                 version: Optional[str]):
        """BODY is bytes, or for a handler marked archive_body a file (spooled to disk
        past MAX_BODY), which body_file() gives (body is then b"")."""
        self.handler = handler
        self.method = method
        self.params = params
        self.query = query
        self._file = body if not isinstance(body, bytes) else None
        self.body = body if isinstance(body, bytes) else b""
        self.version = version
        self.headers = handler.headers
        self.root = handler.server.root

    def engine(self):
        from dunnage.core import Engine
        return Engine(self.root)

    def body_file(self):
        """The body as a file read from its start (an archive endpoint's tar); None for
        an empty body."""
        if self._file is None:
            return io.BytesIO(self.body) if self.body else None
        self._file.seek(0, os.SEEK_END)
        if self._file.tell() == 0:
            return None
        self._file.seek(0)
        return self._file

    def json(self, default=None):
        """The body as JSON (DEFAULT for none); 400 as docker for what does not parse."""
        if not self.body.strip():
            return default
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise ApiError(400, f"invalid JSON: {e}") from None

    def gone(self, wait: float = 0.0) -> bool:
        """Whether the client closed its end (a follow stops then), waiting up to WAIT
        seconds for it."""
        return self.handler.peer_gone(wait)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dunnage"
    _body_file = None
    sys_version = ""

    def log_message(self, fmt, *args):  # docker's daemon does not log each request either
        if os.environ.get("DUNNAGE_API_DEBUG"):
            sys.stderr.write("api: " + (fmt % args) + "\n")

    def version_string(self):
        return "dunnage (linux)"

    def address_string(self):
        return "unix"

    def setup(self):
        super().setup()
        self.server.busy(+1)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.busy(-1)

    def peer_gone(self, wait: float = 0.0) -> bool:
        """Whether the client closed the connection (within WAIT seconds).  POLLHUP, not
        a read's EOF: a hijacked connection's client shuts its writing side once its
        stdin ends, and still reads."""
        try:
            p = select.poll()
            p.register(self.connection, select.POLLHUP | select.POLLERR)
            return bool(p.poll(int(wait * 1000)))
        except (OSError, ValueError):
            return True

    def _common_headers(self) -> None:
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")

    def _read_body(self, archive: bool = False):
        """The request's body: bytes up to MAX_BODY, or for an ARCHIVE endpoint a
        SpooledTemporaryFile (in memory up to MAX_BODY, then in the store's tmp) up to
        MAX_ARCHIVE_BODY.  413 past the limit, before reading what is over it."""
        limit = MAX_ARCHIVE_BODY if archive else MAX_BODY
        if archive:
            import tempfile
            tmp = os.path.join(str(self.server.root), "tmp")
            os.makedirs(tmp, mode=0o700, exist_ok=True)
            out = tempfile.SpooledTemporaryFile(max_size=MAX_BODY, dir=tmp)
        else:
            out = io.BytesIO()
        try:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                size = 0
                while True:
                    line = self.rfile.readline(65537)
                    try:
                        n = int(line.split(b";")[0].strip() or b"0", 16)
                    except ValueError:
                        raise ApiError(400, "malformed chunked encoding") from None
                    if n == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    size += n
                    if size > limit:
                        raise ApiError(413, TOO_LARGE)
                    self._copy(out, n)
                    self.rfile.readline(3)
            else:
                try:
                    n = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    raise ApiError(400, "invalid Content-Length") from None
                if n > limit:
                    raise ApiError(413, TOO_LARGE)
                if n > 0:
                    self._copy(out, n)
        except BaseException:
            out.close()
            raise
        return out if archive else out.getvalue()

    def _copy(self, out, n: int) -> None:
        while n > 0:
            data = self.rfile.read(min(n, 1 << 20))
            if not data:
                raise ApiError(400, "the request's body ended early")
            out.write(data)
            n -= len(data)

    def _dispatch(self) -> None:
        try:
            self._answer()
        finally:
            f = getattr(self, "_body_file", None)
            if f is not None:  # a spooled body goes once the answer went (a stream may read it)
                self._body_file = None
                f.close()

    def _answer(self) -> None:
        method = self.command
        body_read = False
        try:
            try:
                fn, params, query, version = self.server.router.match(method, self.path)
                body = self._read_body(bool(getattr(fn, "archive_body", False)))
                body_read = True
                if not isinstance(body, bytes):
                    self._body_file = body
                req = Request(self, method, params, query, body, version)
                out = fn(req)
            except ApiError:
                raise
            except Exception as e:  # noqa: BLE001
                from dunnage.core import EngineError
                if isinstance(e, EngineError):
                    raise from_engine(e) from None
                traceback.print_exc()
                raise ApiError(500, f"{type(e).__name__}: {e}") from None
        except ApiError as e:
            if e.status != 304 and not isinstance(e, NotModified):
                self._fail(e, body_read)
                return
            self.send_response(304)  # (no body, as HTTP has it)
            self._common_headers()
            self.end_headers()
            return
        if isinstance(out, Stream):
            self._stream(out)
        elif isinstance(out, Hijack):
            self._hijack(out, req)
        elif isinstance(out, Response):
            data = out.body if isinstance(out.body, (bytes, type(None))) else json.dumps(out.body).encode() + b"\n"
            self._send(out.status, data, out.headers.get("Content-Type", "application/json"), out.headers)
        elif out is None:
            self._send(204, None)
        else:
            self._send(200, json.dumps(out).encode() + b"\n", "application/json")

    def _fail(self, e: ApiError, body_read: bool) -> None:
        if not body_read:
            self.close_connection = True  # its body is still in the stream
        self._send(e.status, e.body(), "application/json")

    def _send(self, status: int, data: Optional[bytes], ctype: str = "application/json",
              extra: Optional[dict] = None) -> None:
        self.send_response(status)
        self._common_headers()
        for k, v in (extra or {}).items():
            if k != "Content-Type":
                self.send_header(k, v)
        if data is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data or b"")))
        body = data if data and self.command != "HEAD" else b""
        if body and self.request_version != "HTTP/0.9":
            self._headers_buffer.extend((b"\r\n", body))  # one write with the headers: the client wakes once
            self.flush_headers()
            return
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _stream(self, s: Stream) -> None:
        self.send_response(s.status)
        self._common_headers()
        self.send_header("Content-Type", s.content_type)
        for k, v in s.headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        items = iter(s.items)
        try:
            for data in items:
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            close = getattr(items, "close", None)
            if close:
                close()

    def _hijack(self, h: Hijack, req: Request) -> None:
        upgrade = "upgrade" in self.headers.get("Connection", "").lower()
        if upgrade:
            self.send_response(101, "UPGRADED")
            self.send_header("Content-Type", "application/vnd.docker.raw-stream")
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "tcp")
        else:
            self.send_response(200)
            self.send_header("Content-Type", h.content_type)
        self._common_headers()
        self.end_headers()
        self.close_connection = True

        def write(data: bytes) -> bool:
            try:
                self.wfile.write(data)
                return True
            except OSError:
                return False
        try:
            h.run(req, write)
        finally:
            try:
                self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET


class Server(ThreadingHTTPServer):
    address_family = socket.AF_UNIX
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, path: str, root, router, sock: Optional[socket.socket] = None):
        """Listen on PATH, or on SOCK, a listening socket handed over (socket activation)."""
        self.root = root
        self.router = router
        self._lock = threading.Lock()
        self.active = 0
        self.last = time.monotonic()
        super().__init__(path, Handler, bind_and_activate=sock is None)
        if sock is not None:
            self.socket.close()
            self.socket = sock
            self.server_name, self.server_port = "localhost", 0

    def server_bind(self):
        """Bind PATH owned by root, mode 0660, no window in which another user could
        connect: the umask covers the bind, chmod/chown follow before listen."""
        path = self.server_address
        try:
            st = os.lstat(path)
            if not stat.S_ISSOCK(st.st_mode):
                raise OSError(f"{path} exists and is not a socket")
            os.unlink(path)
        except FileNotFoundError:
            pass
        old = os.umask(0o117)
        try:
            self.socket.bind(path)
        finally:
            os.umask(old)
        os.chown(path, 0, 0)
        os.chmod(path, 0o660)
        self.server_name, self.server_port = "localhost", 0

    def get_request(self):
        conn, _ = self.socket.accept()
        return conn, ("unix", 0)

    def busy(self, n: int) -> None:
        with self._lock:
            self.active += n
            self.last = time.monotonic()

    def idle_for(self) -> float:
        with self._lock:
            return 0.0 if self.active else time.monotonic() - self.last


def socket_path(uri: str) -> str:
    if uri.startswith("unix://"):
        path = uri[len("unix://"):]
    elif uri.startswith("/"):
        path = uri
    else:
        raise ValueError(f"only unix:// addresses are served: {uri}")
    if not path.startswith("/"):
        raise ValueError(f"the socket's path must be absolute: {uri}")
    return path


SD_LISTEN_FDS_START = 3


def activated_socket(env=os.environ) -> Optional[socket.socket]:
    """The listening socket systemd hands over (sd_listen_fds(3): LISTEN_PID is ours,
    LISTEN_FDS at least 1, the first on fd 3), or None.  The variables are dropped so
    that nothing the service starts takes them for its own, and the descriptor is made
    close-on-exec.  It must be a listening unix stream socket with a path that only its
    owner root and its group may connect to, none other may write (ValueError else): the
    API is root's."""
    pid, fds = env.get("LISTEN_PID"), env.get("LISTEN_FDS")
    if not fds or pid != str(os.getpid()):
        return None
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(k, None)
    try:
        n = int(fds)
    except ValueError:
        raise ValueError(f"socket activation: LISTEN_FDS={fds!r} is not a number") from None
    if n < 1:
        return None
    fd = SD_LISTEN_FDS_START
    try:
        sock = socket.socket(fileno=fd)
    except OSError as e:
        raise ValueError(f"socket activation: fd {fd}: {e.strerror or e}") from None
    try:
        os.set_inheritable(fd, False)
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
            raise ValueError("socket activation: fd 3 is not a unix stream socket (only unix sockets are served)")
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise ValueError("socket activation: fd 3 is not listening (Accept=no is the service's mode)")
        path = sock.getsockname()
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("socket activation: fd 3 has no path (an abstract socket has no permissions)")
        st = os.stat(path)
        if st.st_uid != 0 or st.st_mode & 0o002:  # (connecting takes write permission)
            raise ValueError(f"socket activation: {path} must be root's, mode 0660 or tighter "
                             f"(it is {st.st_uid}:{st.st_gid} {stat.S_IMODE(st.st_mode):04o})")
    except BaseException:
        sock.detach()  # (the descriptor stays the caller's to close)
        raise
    return sock


def serve(root, uri: str, idle: float = 5.0) -> None:
    """Serve until IDLE seconds pass without a request or open connection (0: forever)
    or SIGTERM/SIGINT; the socket goes with the service.  A socket handed over by
    systemd (activated_socket) takes URI's place, and stays: it is systemd's."""
    from .routes import build
    sock = activated_socket()
    if sock is not None:
        path = None
        srv = Server(sock.getsockname(), root, build(), sock)
    else:
        path = socket_path(uri)
        os.makedirs(os.path.dirname(path) or "/", mode=0o700, exist_ok=True)
        srv = Server(path, root, build())
    stop = threading.Event()

    def on_signal(*_):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    srv.timeout = 0.2
    try:
        while not stop.is_set():
            srv.handle_request()
            if idle and srv.idle_for() > idle:
                break
    finally:
        srv.server_close()
        if path is not None:
            try:
                os.unlink(path)
            except OSError:
                pass
