#!/usr/bin/env python3
"""The reference's EMCL code (shared/reference/python, intentusnet/security/emcl/ and its
transports' framing) driven from intentus's tests. PYTHONPATH must hold the reference.

  ref_emcl.py seal  [--mode aes-gcm|hmac]   stdin: a JSON object; stdout: asdict(EMCLEnvelope)
  ref_emcl.py open  [--mode ...]            stdin: an envelope; stdout: the body, or exit 4
                                            and "EMCLValidationError: ..." on stderr
  ref_emcl.py vectors                       stdout: deterministic vectors (os.urandom fixed)
  ref_emcl.py client --url URL [--mode ..] [--intent N] [--payload JSON] [--token T]
        sends one intent with the reference's own ZeroMQTransport.send_intent (the transport
        the reference gives EMCL to; its HTTPTransport has none), its socket carried over
        HTTP POST; prints the AgentResponse as JSON, with the reply frame's messageType
  ref_emcl.py server [--mode ..] [--log FILE] [--max-seconds N]
        an http agent on 127.0.0.1 (port on the first stdout line): opens EMCL frames with
        the reference's provider and answers an AgentResponse sealed with it. The payload
        (inside the ciphertext) steers the reply: {"reply": "ok"|"tamper"|"plain"|"wrongkey"|
        "chain"|"notjson"}. Each request's raw body is appended to --log. Exits at the end
        of its stdin or after --max-seconds.

The key is $INTENTUS_TEST_EMCL_KEY (as the reference reads $INTENTUSNET_EMCL_KEY).
"""
import argparse
import base64
import datetime
import json
import os
import sys
import threading
import types
import urllib.request
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from intentusnet.protocol.emcl import EMCLEnvelope
from intentusnet.protocol.errors import EMCLValidationError
from intentusnet.security.emcl import AESGCMEMCLProvider, SimpleHMACEMCLProvider


def provider(mode, key=None):
    key = key if key is not None else os.environ["INTENTUS_TEST_EMCL_KEY"]
    return SimpleHMACEMCLProvider(key) if mode == "hmac" else AESGCMEMCLProvider(key)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def cmd_seal(args):
    body = json.load(sys.stdin)
    print(dumps(asdict(provider(args.mode).encrypt(body))))


def cmd_open(args):
    env = json.load(sys.stdin)
    try:
        body = provider(args.mode).decrypt(EMCLEnvelope(**env))
    except EMCLValidationError as e:
        print("EMCLValidationError:", e, file=sys.stderr)
        sys.exit(4)
    print(dumps(body))


def cmd_vectors(args):
    """Fixed nonces, so the C side can check its sealing byte for byte."""
    import intentusnet.security.emcl.aes_gcm as aes_mod

    out = []
    cases = [
        ("k" * 32, {"intent": "demo.echo", "payload": {"text": "héllo \u00e9 ✓"}}),
        ("short passphrase", {"a": 1, "b": [True, None, 2.5], "c": {"d": "\u0000x"}}),
    ]
    for i, (key, body) in enumerate(cases):
        nonce = bytes(range(i, i + 12))
        saved = aes_mod.os.urandom
        aes_mod.os.urandom = lambda n, nonce=nonce: nonce[:n]
        try:
            env = AESGCMEMCLProvider(key).encrypt(body)
        finally:
            aes_mod.os.urandom = saved
        out.append({"mode": "aes-gcm", "key": key, "body": body, "envelope": asdict(env)})
    hkey = "hmac key"
    body = {"x": "y", "n": [1, 2, 3]}
    out.append({"mode": "hmac", "key": hkey, "body": body,
                "envelope": asdict(SimpleHMACEMCLProvider(hkey).encrypt(body))})
    print(json.dumps(out, indent=1, ensure_ascii=False))


class HTTPSocket:
    """What ZeroMQTransport.send_intent needs of its zmq socket, over HTTP POST."""

    def __init__(self, url, token, timeout):
        self.url, self.token, self.timeout, self.reply = url, token, timeout, None

    def send_string(self, text):
        req = urllib.request.Request(self.url, data=text.encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                self.reply = r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise RuntimeError("HTTP %d %s" % (e.code, e.read().decode("utf-8", "replace")))

    def recv_string(self):
        return self.reply


def reference_transport(url, mode, token):
    # The reference's ZeroMQTransport imports zmq at module level; only its
    # send_intent (framing, EMCL, decoding) runs here, over HTTPSocket.
    sys.modules.setdefault("zmq", types.ModuleType("zmq"))
    from intentusnet.transport.zeromq import ZeroMQTransport

    t = ZeroMQTransport.__new__(ZeroMQTransport)
    t._address = url
    t._emcl = provider(mode) if mode != "none" else None
    t._socket = HTTPSocket(url, token, 20)
    return t


def cmd_client(args):
    from intentusnet.protocol.intent import (IntentContext, IntentEnvelope, IntentMetadata,
                                             IntentRef, RoutingOptions)
    import uuid

    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    # Enum members (Priority, RoutingStrategy) do not survive json.dumps in
    # the reference; their wire values are passed as strings.
    env = IntentEnvelope(
        version="1.0", intent=IntentRef(name=args.intent, version="1.0"),
        payload=json.loads(args.payload),
        context=IntentContext(sourceAgent="ref-emcl", timestamp=now, priority="normal", tags=[]),
        metadata=IntentMetadata(requestId=str(uuid.uuid4()), source="ref-emcl", createdAt=now,
                                traceId=str(uuid.uuid4()), identityChain=list(args.chain)),
        routing=RoutingOptions(strategy="direct"))
    t = reference_transport(args.url, args.mode, args.token)
    r = t.send_intent(env)
    reply = json.loads(t._socket.reply) if t._socket.reply else {}
    print(dumps({"replyType": reply.get("messageType"), "status": r.status,
                 "payload": r.payload, "metadata": r.metadata, "error": None if r.error is None else
                 {"code": r.error.code.value, "message": r.error.message}}))


def agent_response(env, payload=None, error=None):
    md = env.get("metadata") or {}
    return {"version": "1.0", "status": "error" if error else "success", "payload": payload,
            "metadata": {"agent": "ref-emcl-agent", "traceId": md.get("traceId", ""),
                         "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat()},
            "error": error}


def make_handler(mode, log):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format, *args):
            pass

        def send(self, status, obj):
            body = (obj if isinstance(obj, str) else dumps(obj)).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if log:
                with lock, open(log, "ab") as f:
                    f.write(raw + b"\n")
            frame = json.loads(raw)
            p = provider(mode)
            if frame.get("messageType") != "emcl":
                return self.send(400, {"protocol": "INTENTUSNET/1.0", "messageType": "error",
                                       "code": "EMCL_FAILURE", "message": "plain frame refused",
                                       "details": {}})
            try:
                env = p.decrypt(EMCLEnvelope(**frame["body"]))
            except EMCLValidationError as e:
                return self.send(400, {"protocol": "INTENTUSNET/1.0", "messageType": "error",
                                       "code": "EMCL_FAILURE", "message": str(e), "details": {}})
            payload = env.get("payload") or {}
            reply = payload.get("reply", "ok")
            resp = agent_response(env, {"echo": payload,
                                        "chain": env["metadata"].get("identityChain")})
            if reply == "plain":
                return self.send(200, {"protocol": "INTENTUSNET/1.0", "messageType": "response",
                                       "headers": {}, "body": resp})
            if reply == "notjson":
                sealed = asdict(p.encrypt(["not", "an", "object"]))
            else:
                q = provider(mode, "another key") if reply == "wrongkey" else p
                sealed = asdict(q.encrypt(resp))
            if reply == "tamper":
                if mode == "hmac":
                    sealed["cipherText"] = sealed["cipherText"].replace("success", "sUccess")
                else:
                    ct = bytearray(base64.b64decode(sealed["cipherText"]))
                    ct[len(ct) // 2] ^= 1
                    sealed["cipherText"] = base64.b64encode(bytes(ct)).decode("ascii")
            if reply == "chain":
                sealed["identityChain"] = ["mallory"]
            self.send(200, {"protocol": "INTENTUSNET/1.0", "messageType": "emcl", "headers": {},
                            "body": sealed})

    return Handler


def cmd_server(args):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args.mode, args.log))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(srv.server_address[1], flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Event().wait(args.max_seconds)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("seal", "open", "client", "server"):
        s = sub.add_parser(name)
        s.add_argument("--mode", default="aes-gcm", choices=["aes-gcm", "hmac", "none"])
        if name == "client":
            s.add_argument("--url", required=True)
            s.add_argument("--intent", default="demo.echo")
            s.add_argument("--payload", default="{}")
            s.add_argument("--token", default="")
            s.add_argument("--chain", action="append", default=[])
        if name == "server":
            s.add_argument("--log", default="")
            s.add_argument("--max-seconds", type=float, default=120)
    sub.add_parser("vectors")
    args = ap.parse_args()
    {"seal": cmd_seal, "open": cmd_open, "vectors": cmd_vectors, "client": cmd_client,
     "server": cmd_server}[args.cmd](args)


if __name__ == "__main__":
    main()
