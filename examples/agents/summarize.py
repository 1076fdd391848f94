#!/usr/bin/env python3
"""A small exec agent for intentus: reads one envelope (JSON) on stdin and
writes one AgentResponse (JSON) on stdout. Standard library only.

    { "name": "summarize", "kind": "exec",
      "argv": ["python3", "examples/agents/summarize.py"],
      "intents": ["text.summarize"] }

payload.text is summarised as its first 40 characters. payload.mode steers
the agent so tests (and people trying intentus) can see every failure the
exec kind handles:

  ok       (default) {"summary": first 40 chars of payload.text, "length": n}
  fail     an error response of its own: AGENT_ERROR
  slow     sleeps payload.sleep_ms (default 500), then ok
  hang     sleeps forever
  crash    kills itself with SIGSEGV
  garbage  prints text that is not JSON
  big      prints 5 MB
  exit3    writes to stderr and exits with status 3
  child    starts a grandchild `sleep 300` in its own process group, writes
           the grandchild's pid to stderr and to payload.pidfile (if given),
           then hangs: the caller must kill the whole group
  env      ok, plus {"env": {NAME: value or null for each NAME in
           payload.names}, "cwd": its working directory}
"""
import datetime
import json
import os
import signal
import sys
import time


def response(envelope, payload=None, error=None):
    metadata = envelope.get("metadata") or {}
    return {
        "version": "1.0",
        "status": "error" if error else "success",
        "payload": payload,
        "metadata": {
            "agent": "summarize",
            "traceId": metadata.get("traceId", ""),
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        },
        "error": error,
    }


def summary(envelope, payload):
    text = str(payload.get("text", ""))
    return response(envelope, {"summary": text[:40], "length": len(text)})


def forever():
    while True:
        time.sleep(3600)


def main():
    envelope = json.load(sys.stdin)
    payload = envelope.get("payload") or {}
    mode = payload.get("mode", "ok")
    out = sys.stdout

    if mode == "ok":
        json.dump(summary(envelope, payload), out)
    elif mode == "env":
        result = summary(envelope, payload)
        result["payload"]["env"] = {n: os.environ.get(n) for n in payload.get("names", [])}
        result["payload"]["cwd"] = os.getcwd()
        json.dump(result, out)
    elif mode == "fail":
        json.dump(response(envelope, error={
            "code": "AGENT_ERROR", "message": "summarize: asked to fail",
            "retryable": False, "details": {"mode": mode}}), out)
    elif mode == "slow":
        time.sleep(int(payload.get("sleep_ms", 500)) / 1000.0)
        json.dump(summary(envelope, payload), out)
    elif mode == "hang":
        forever()
    elif mode == "crash":
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGSEGV)
        forever()
    elif mode == "garbage":
        out.write("this is not JSON\n")
    elif mode == "big":
        chunk = "x" * 65536
        for _ in range(80):  # 5 MiB
            out.write(chunk)
    elif mode == "exit3":
        sys.stderr.write("summarize: exiting with status 3 as asked\n")
        sys.exit(3)
    elif mode == "child":
        import subprocess  # here: it costs start-up time every other mode can skip

        # Same process group as us (no setsid, no new group), so only a
        # kill of the whole group reaches it.
        child = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL)
        pidfile = payload.get("pidfile")
        if pidfile:
            with open(pidfile + ".tmp", "w") as f:
                f.write("%d\n" % child.pid)
            os.rename(pidfile + ".tmp", pidfile)
        sys.stderr.write("grandchild pid %d\n" % child.pid)
        sys.stderr.flush()
        forever()
    else:
        json.dump(response(envelope, error={
            "code": "VALIDATION_ERROR", "message": "summarize: unknown mode %r" % mode,
            "retryable": False, "details": {}}), out)
    out.flush()


if __name__ == "__main__":
    main()
