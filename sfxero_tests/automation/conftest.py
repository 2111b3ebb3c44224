"""Fixtures for the automation tests: a real Dagster instance, real runs, and local receivers.

- `instance`: an ephemeral DagsterInstance (in-memory run and event storage).
- `run_job(name, fail=False, tags=None)`: executes a one-op job *named like the real one*
  (`extract_job`, `check_job`, …) on `instance` and returns its DagsterRun: the sensors read run
  records and events, which these runs produce exactly as the real jobs would.
- `webhook`: an HTTP server on 127.0.0.1 (thread) recording each request; `.status` sets its answer.
- `smtp_server`: a minimal SMTP responder on 127.0.0.1 (socketserver thread) recording each
  session's AUTH, envelope and message.
"""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def run_job(instance):
    def run(name: str, *, fail: bool = False, error: str = "boom", tags: dict | None = None) -> dg.DagsterRun:
        @dg.op(name=f"{name}_step")
        def step():
            if fail:
                raise ValueError(error)

        @dg.job(name=name)
        def job():
            step()

        result = job.execute_in_process(instance=instance, tags=tags or {}, raise_on_error=False)
        assert result.success is not fail
        return instance.get_run_by_id(result.run_id)

    return run


def status_event(instance: dg.DagsterInstance, run: dg.DagsterRun, event_type: dg.DagsterEventType) -> dg.DagsterEvent:
    records = instance.get_records_for_run(run.run_id, of_type=event_type).records
    assert records, f"no {event_type} event for run {run.run_id}"
    return records[-1].event_log_entry.dagster_event


def add_run(instance: dg.DagsterInstance, job_name: str, status: dg.DagsterRunStatus, tags: dict | None = None) -> dg.DagsterRun:
    """A run record in a given status (e.g. one still STARTED), without executing anything."""
    return instance.add_run(dg.DagsterRun(job_name=job_name, status=status, tags=tags or {}))


@dataclass
class Webhook:
    url: str
    requests: list[dict] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def webhook():
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.requests.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                  "json": json.loads(body)})
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0KEN-in-path"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


@dataclass
class SmtpSession:
    auth: tuple[str, str] | None = None
    mail_from: str = ""
    rcpt_to: list[str] = field(default_factory=list)
    data: bytes = b""

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


@dataclass
class SmtpServer:
    host: str
    port: int
    sessions: list[SmtpSession] = field(default_factory=list)


@pytest.fixture
def smtp_server():
    """Speaks enough ESMTP for smtplib: EHLO (advertising AUTH PLAIN), AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""
    server_state = SmtpServer(host="127.0.0.1", port=0)

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")
            self.wfile.flush()

        def handle(self):
            session = SmtpSession()
            server_state.sessions.append(session)
            self.reply("220 localhost test SMTP")
            while line := self.rfile.readline():
                command = line.decode().rstrip("\r\n")
                verb = command.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    self.wfile.write(b"250-localhost\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
                    self.wfile.flush()
                elif verb == "AUTH":
                    _, user, password = base64.b64decode(command.split()[2]).split(b"\0")
                    session.auth = (user.decode(), password.decode())
                    self.reply("235 2.7.0 Authentication successful")
                elif verb == "MAIL":
                    session.mail_from = command.split(":", 1)[1].split()[0].strip("<>")
                    self.reply("250 OK")
                elif verb == "RCPT":
                    session.rcpt_to.append(command.split(":", 1)[1].strip().strip("<>"))
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 End data with <CR><LF>.<CR><LF>")
                    chunks = []
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        chunks.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    session.data = b"".join(chunks)
                    self.reply("250 OK queued")
                elif verb == "QUIT":
                    self.reply("221 Bye")
                    return
                else:  # RSET, NOOP, …
                    self.reply("250 OK")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_state
    server.shutdown()
    server.server_close()
