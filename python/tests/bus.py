"""A real bus for the end-to-end tests: ``agentbus init`` makes a project in a temp directory,
``agentbus dev`` runs it (nats-server, the TS verifier and auditor on chDB, the memory service),
``agentbus mcp serve`` wraps mcp-server-filesystem as the tool server ``fs``, and TS agents run as
node scripts with @agentbus/sdk; the project enables the A2A gateway, which ``agentbus dev`` starts
(tests/test_a2a.py). Everything on loopback, on a free port."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "packages" / "server" / "dist" / "cli" / "index.js"
FS_BIN = REPO / "node_modules" / ".bin" / "mcp-server-filesystem"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Bus:
    def __init__(self) -> None:
        self.tmp = Path(os.path.realpath(tempfile.mkdtemp(prefix="agentbus-py-e2e-")))
        self.proj = self.tmp / "proj"
        self.files = self.tmp / "files"
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[str]] = []
        self.dev: subprocess.Popen[str] | None = None
        self.dev_log = self.tmp / "dev.log"
        self.a2a_token = ""  # a bearer token of the external principal ext-acme (setup_a2a)
        self.a2a_url = ""  # the gateway's base URL, as agentbus dev prints it (start)

    # -- the CLI --------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            ["node", str(CLI), *args], cwd=self.proj if self.proj.exists() else self.tmp, capture_output=True, text=True,
            timeout=timeout, env=self.env(),
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"agentbus {' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}")
        return r

    def env(self) -> dict[str, str]:
        return {**os.environ, "NO_COLOR": "1", "AGENTBUS_SERVERS": self.url}

    @property
    def manifests(self) -> Path:
        return self.proj / "manifests"

    def creds(self, agent: str) -> Path:
        return self.proj / ".agentbus" / "creds" / f"{agent}.creds.json"

    def manifest(self, agent: str) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load((self.manifests / f"{agent}.yaml").read_text())
        return doc

    def write_manifest(self, agent: str, doc: dict[str, Any]) -> None:
        (self.manifests / f"{agent}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    # -- setup ------------------------------------------------------------------------------
    def setup(self) -> None:
        self.cli("init", "--python", str(self.proj))
        # the project's contracts.mjs imports @agentbus/sdk and zod: the repository's
        (self.proj / "node_modules").symlink_to(REPO / "node_modules")
        for a in ("pyalice", "pybob", "fs", "pyops", "pyrot"):
            self.cli("keygen", a)
        (self.files / "project").mkdir(parents=True)
        (self.files / "project" / "hello.txt").write_text("hello from the bus\n")
        self.cli("mcp", "pin", "--agent", "fs", "--", str(FS_BIN), str(self.files))
        fs = self.manifest("fs")
        fs["send"] = [{"to": "*", "types": ["tool.result"]}]
        self.write_manifest("fs", fs)
        root = str(self.files / "project")
        qa = ["note.send", "question.ask"]
        answers = ["note.ack", "question.answer"]
        pa = self.manifest("pyalice")
        pa["send"] = [{"to": "bob", "types": qa}, {"to": "pybob", "types": qa}, {"to": "nobody", "types": ["*"]}]
        pa["tools"] = [{"server": "fs", "tools": ["read_text_file", "list_directory"], "args": {"path": {"path": {"roots": [root]}}}}]
        # get_file_info is held for approval (PROTOCOL.md §15.3): pyops approves (tests/test_e2e_clients.py)
        pa["tools"].append({"server": "fs", "tools": ["get_file_info"], "args": {"path": {"path": {"roots": [root]}}}, "approval": "required"})
        pa["topics"] = {"publish": [{"topic": "news", "types": ["note.send"]}], "subscribe": ["news"]}
        pa["memory"] = {"shared": [{"ns": "team", "access": "read-write"}]}
        pa["max_depth"] = 3
        # tests/test_e2e_workers.py runs pyalice and pybob as two workers each (docs/sdk.md)
        pa["replicas"] = 2
        # the rejection tests spend more than the default budget (burst 20) on purpose
        pa["rejections"] = {"per_second": 100, "burst": 1000}
        self.write_manifest("pyalice", pa)
        pb = self.manifest("pybob")
        pb["send"] = [{"to": "alice", "types": answers}, {"to": "pyalice", "types": answers}]
        pb["topics"] = {"subscribe": ["news"]}
        pb["replicas"] = 2
        self.write_manifest("pybob", pb)
        ops = self.manifest("pyops")
        ops["approve"] = ["fs"]
        self.write_manifest("pyops", ops)
        rot = self.manifest("pyrot")  # its key is rotated (tests/test_e2e_clients.py): no other test uses it
        rot["send"] = [{"to": "pybob", "types": ["note.send"]}]
        self.write_manifest("pyrot", rot)
        for ts, to, types in (("alice", "pybob", qa), ("bob", "pyalice", answers)):
            m = self.manifest(ts)
            m["send"].append({"to": to, "types": types})
            m["topics"] = {"publish": [{"topic": "news", "types": ["note.send"]}]} if ts == "alice" else {"subscribe": ["news"]}
            self.write_manifest(ts, m)
        # a protobuf contract (PROTOCOL.md §7.3) with a message generated from proto/ on both
        # sides: protobufjs's static class in TS, envelope_pb2's in Python (tests/test_proto_contracts.py)
        c = self.proj / "contracts.mjs"
        src = c.read_text()
        imp = "import { defineMessage, createRegistry } from '@agentbus/sdk';"
        reg = "createRegistry(NoteSend, NoteAck, QuestionAsk, QuestionAnswer)"
        assert imp in src and reg in src, "the quickstart's contracts.mjs changed: update tests/bus.py"
        src = src.replace(imp, "import { defineMessage, defineProtoMessage, createRegistry } from '@agentbus/sdk';\nimport { DeliveryRecord } from '@agentbus/protocol';")
        src = src.replace(reg, "createRegistry(NoteSend, NoteAck, QuestionAsk, QuestionAnswer, defineProtoMessage('delivery.report', DeliveryRecord))")
        c.write_text(src)
        for name in ("pyalice", "alice"):
            m = self.manifest(name)
            m["send"].extend([{"to": "bob", "types": ["delivery.report"]}, {"to": "pybob", "types": ["delivery.report"]}])
            self.write_manifest(name, m)
        self.export_contracts()
        self.setup_a2a()

    def setup_a2a(self) -> None:
        """The A2A gateway (docs/a2a.md), enabled in agentbus.json and started by ``agentbus dev``:
        ``researcher`` (a TS agent, tests/test_a2a.py) is exposed with the skills a2a.message and
        question.ask; ``ext-acme`` is an external principal that may send it a2a.message only."""
        for a in ("researcher", "ext-acme"):
            self.cli("keygen", a)
        r = self.manifest("researcher")
        r["send"] = [{"to": "ext-acme", "types": ["a2a.reply"]}]
        r["a2a"] = {"expose": {"name": "Researcher", "description": "answers research questions", "skills": ["a2a.message", "question.ask"]}}
        self.write_manifest("researcher", r)
        p = self.manifest("ext-acme")
        p["send"] = [{"to": "researcher", "types": ["a2a.message"]}]
        p["a2a"] = {"principal": {"gateway": "a2a"}}
        p["max_payload_bytes"] = 4096
        self.write_manifest("ext-acme", p)
        pf = self.proj / "agentbus.json"
        project = json.loads(pf.read_text())
        project["a2a"] = "a2a.yaml"
        pf.write_text(json.dumps(project, indent=2) + "\n")
        self.cli("a2a", "init", "--port", "0")
        self.a2a_token = self.cli("a2a", "token", "--principal", "ext-acme").stdout.strip()

    def export_contracts(self) -> Path:
        out = self.proj / "contracts.json"
        self.cli("contracts", "export", "-o", str(out))
        return out

    def start(self) -> None:
        log = open(self.dev_log, "w")
        self.dev = subprocess.Popen(
            ["node", str(CLI), "dev", "--port", str(self.port), "--quiet"], cwd=self.proj, stdout=log, stderr=subprocess.STDOUT,
            text=True, env=self.env(), start_new_session=True,
        )
        self.wait_log("Ctrl-C to stop", 120)
        m = re.search(r"A2A gateway a2a on (http://\S+)", self.dev_log.read_text())
        if m is None:
            raise RuntimeError(f"agentbus dev did not start the A2A gateway:\n{self.dev_log.read_text()}")
        self.a2a_url = m.group(1)
        fs = subprocess.Popen(
            ["node", str(CLI), "mcp", "serve", "--agent", "fs", "--nats", self.url, "--", str(FS_BIN), str(self.files)],
            cwd=self.proj, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env(), start_new_session=True,
        )
        self.procs.append(fs)
        assert fs.stdout is not None
        seen = ""
        while "serving" not in seen:
            line = fs.stdout.readline()
            if not line:
                raise RuntimeError(f"mcp serve did not start: {seen}")
            seen += line

    def wait_log(self, text: str, timeout: float) -> None:
        t0 = time.monotonic()
        while text not in self.dev_log.read_text():
            if self.dev is not None and self.dev.poll() is not None:
                raise RuntimeError(f"agentbus dev exited ({self.dev.returncode}):\n{self.dev_log.read_text()}")
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"timed out waiting for {text!r}:\n{self.dev_log.read_text()}")
            time.sleep(0.1)

    # -- TS agents --------------------------------------------------------------------------
    def node_script(self, name: str, source: str) -> Path:
        p = self.proj / name
        p.write_text(source)
        return p

    def run_node(self, name: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["node", name], cwd=self.proj, capture_output=True, text=True, timeout=timeout, env=self.env())

    def spawn_node(self, name: str) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            ["node", name], cwd=self.proj, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env(), start_new_session=True
        )
        self.procs.append(p)
        return p

    # -- the audit --------------------------------------------------------------------------
    def trail(self, msg_id: str, want: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        """The audit rows of msg_id (waits until the auditor has stored ``want`` of them)."""
        t0 = time.monotonic()
        while True:
            r = self.cli("audit", "trail", "--msg-id", msg_id, "--json", check=False)
            rows: list[dict[str, Any]] = []
            if r.returncode == 0 and r.stdout.strip():
                doc = json.loads(r.stdout)
                rows = doc if isinstance(doc, list) else doc.get("rows", doc.get("messages", []))
                rows = [x for x in rows if x.get("msg_id") == msg_id]
            if len(rows) >= want:
                return rows
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"no audit row for {msg_id} within {timeout}s: {r.stderr}{r.stdout[:2000]}")
            time.sleep(0.5)

    def sql(self, query: str, timeout: float = 30, until: Any = None) -> list[dict[str, Any]]:
        """Read-only SQL on the audit store (``until(rows)``: poll until it holds)."""
        t0 = time.monotonic()
        while True:
            r = self.cli("audit", "sql", query, "--json", check=False)
            rows: list[dict[str, Any]] = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else []
            if until is None or until(rows):
                if r.returncode != 0:
                    raise RuntimeError(r.stderr)
                return rows
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"audit: timed out on {query}: {r.stderr}{rows}")
            time.sleep(0.5)

    def stop(self) -> None:
        for p in [*self.procs, *([self.dev] if self.dev else [])]:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGINT if p is self.dev else signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in [*self.procs, *([self.dev] if self.dev else [])]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)


if __name__ == "__main__":  # a manual run: python tests/bus.py
    b = Bus()
    b.setup()
    try:
        b.start()
    except BaseException:
        b.stop()
        raise
    print(b.url, b.proj, file=sys.stderr)
    try:
        time.sleep(3600)
    finally:
        b.stop()
