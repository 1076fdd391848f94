#!/usr/bin/env python3
"""A small HTTP agent for intentus: POST /agent takes an envelope (JSON) and
answers with an AgentResponse (JSON). Standard library only; listens on
127.0.0.1 only.

    python3 examples/agents/http_agent.py --port 8081
    { "name": "search", "kind": "http", "url": "http://127.0.0.1:8081/agent",
      "intents": ["web.search"] }

The first line on stdout is the port it listens on (useful with --port 0,
which lets the system choose a free one). It exits when its stdin reaches
end of file, or after --max-seconds, so a test that started it through a
pipe can never leave it running; pass --ignore-stdin to serve until killed
(for example when started in the background with stdin from /dev/null).

payload.mode steers the answer, as for examples/agents/summarize.py:

  ok        (default) {"summary": first 40 chars of payload.text, "length": n}
  fail      an error response of its own: AGENT_ERROR
  slow      sleeps payload.sleep_ms (default 500), then ok
  hang      never answers
  crash     closes the connection without an answer
  garbage   200 with a body that is not JSON
  big       200 with a 5 MB body
  status500 HTTP 500
  status429 HTTP 429 (Retry-After: 1)
  status404 HTTP 404
  badbody   200 with a truncated JSON body
  notresponse  200 with JSON that is not an AgentResponse
  headers   ok, with the request headers it saw under "headers"
  subintents  asks the router for the sub-intents payload.sub names (a list of
            intent names) and reports one model call; called again with their
            "subResults", answers {"results": [{intent, status, payload}]}
"""
import argparse
import datetime
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def response(envelope, payload=None, error=None):
    metadata = envelope.get("metadata") or {}
    return {
        "version": "1.0",
        "status": "error" if error else "success",
        "payload": payload,
        "metadata": {
            "agent": "http-agent",
            "traceId": metadata.get("traceId", ""),
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        },
        "error": error,
    }


def summary(envelope, payload):
    text = str(payload.get("text", ""))
    return {"summary": text[:40], "length": len(text)}


def subintents(envelope, payload):
    """The sub-intent protocol (README, "Sub-intents"): ask, then answer."""
    done = envelope.get("subResults")
    if done is None:
        r = response(envelope, {})
        r["subIntents"] = [{"intent": name, "payload": {"text": name}}
                           for name in payload.get("sub", [])]
        r["modelCalls"] = [{"model": "example-1", "provider": "http-agent",
                            "promptHash": "p1", "responseHash": "r1",
                            "inputTokens": 3, "outputTokens": 4, "latencyMs": 5}]
        return r
    return response(envelope, {"results": [
        {"intent": s["intent"], "status": s["response"]["status"],
         "payload": s["response"].get("payload")} for s in done]})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a client can reuse connections
    # Headers and body go out as two writes; with Nagle on, the second waits
    # for the client's delayed ACK (~40 ms a request on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # quiet: stdout carries the port only
        pass

    def send(self, status, body, ctype="application/json", extra=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send(200, '{"ok": true}\n')  # liveness

    def do_POST(self):
        if self.path != "/agent":
            self.send(404, '{"error": "POST /agent"}\n')
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            envelope = json.loads(raw)
        except ValueError:
            self.send(400, '{"error": "body is not JSON"}\n')
            return
        payload = envelope.get("payload") or {}
        mode = payload.get("mode", "ok")
        if mode in ("ok", "slow", "headers"):
            if mode == "slow":
                time.sleep(int(payload.get("sleep_ms", 500)) / 1000.0)
            result = summary(envelope, payload)
            if mode == "headers":
                result["headers"] = {k: v for k, v in self.headers.items()}
            self.send(200, json.dumps(response(envelope, result)))
        elif mode == "subintents":
            self.send(200, json.dumps(subintents(envelope, payload)))
        elif mode == "fail":
            self.send(200, json.dumps(response(envelope, error={
                "code": "AGENT_ERROR", "message": "http-agent: asked to fail",
                "retryable": False, "details": {"mode": mode}})))
        elif mode == "hang":
            time.sleep(3600)
        elif mode == "crash":
            self.close_connection = True
            self.connection.close()
        elif mode == "garbage":
            self.send(200, "this is not JSON\n")
        elif mode == "big":
            self.send(200, "x" * (5 * 1024 * 1024))
        elif mode == "status500":
            self.send(500, '{"error": "internal error (asked for)"}\n')
        elif mode == "status429":
            self.send(429, '{"error": "slow down"}\n', extra={"Retry-After": "1"})
        elif mode == "status404":
            self.send(404, '{"error": "no such thing"}\n')
        elif mode == "badbody":
            self.send(200, '{"version": "1.0", "status": "succ')
        elif mode == "notresponse":
            self.send(200, '{"status": 5, "metadata": []}')
        else:
            self.send(200, json.dumps(response(envelope, error={
                "code": "VALIDATION_ERROR", "message": "http-agent: unknown mode %r" % mode,
                "retryable": False, "details": {}})))


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging request must not keep the process alive

    def handle_error(self, request, client_address):
        pass  # a client that gave up mid-answer is normal here


def exit_on_stdin_eof():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8081, help="0: any free port")
    ap.add_argument("--max-seconds", type=float, default=0, help="exit after this long (0: never)")
    ap.add_argument("--ignore-stdin", action="store_true", help="do not exit at end of stdin")
    args = ap.parse_args()

    server = Server(("127.0.0.1", args.port), Handler)
    print(server.server_address[1], flush=True)
    if not args.ignore_stdin:
        threading.Thread(target=exit_on_stdin_eof, daemon=True).start()
    if args.max_seconds > 0:
        timer = threading.Timer(args.max_seconds, lambda: os._exit(0))
        timer.daemon = True
        timer.start()
    server.serve_forever()


if __name__ == "__main__":
    main()
