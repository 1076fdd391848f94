"""The reference's side of `intentus-bench --only compare` (`make bench-compare`).

Routes N envelopes through the reference's own IntentRouter, recording each
with its FileExecutionStore into DIR (or not at all with --record off), with
the agents of intentus's bench configuration (tui/bench_fixture.c): DIRECT to
an echo agent (nodePriority 3), or FALLBACK over fail-1 (AGENT_ERROR), fail-2
(AGENT_UNAVAILABLE), then echo. The payload is read from PAYLOAD (the JSON
intentus routes, written by intentus-bench), so both sides carry the same
bytes. Envelopes are built before the clock starts; the time is route_intent
alone, per call. Prints one JSON line: mean_us, p50_us, p99_us, per_sec,
file_bytes (mean size of the record files written; 0 when off).

Run with PYTHONPATH holding the reference (shared/reference/python):
    python3 bench/ref_route.py N DIR direct|fallback on|off PAYLOAD
"""

import copy
import json
import os
import sys
import time
import uuid

from intentusnet.core.agent import BaseAgent
from intentusnet.core.registry import AgentRegistry
from intentusnet.core.router import IntentRouter
from intentusnet.protocol.agent import AgentDefinition, Capability
from intentusnet.protocol.enums import ErrorCode, RoutingStrategy
from intentusnet.protocol.intent import (IntentContext, IntentEnvelope, IntentMetadata,
                                         IntentRef, RoutingMetadata, RoutingOptions)
from intentusnet.protocol.response import AgentResponse, ErrorInfo
from intentusnet.recording.store import FileExecutionStore
from intentusnet.utils.timestamps import now_iso


class EchoAgent(BaseAgent):
    def handle_intent(self, env):
        return AgentResponse.success(env.payload, agent=self.definition.name,
                                     trace_id=env.metadata.traceId)


class FailAgent(BaseAgent):
    code = ErrorCode.AGENT_ERROR

    def handle_intent(self, env):
        return AgentResponse.failure(
            ErrorInfo(code=self.code, message=f"{self.definition.name} fails", retryable=False,
                      details={}),
            agent=self.definition.name, trace_id=env.metadata.traceId)


class UnavailableAgent(FailAgent):
    code = ErrorCode.AGENT_UNAVAILABLE


def agent(cls, name, priority, intents):
    caps = [Capability(intent=IntentRef(name=i, version="*")) for i in intents]
    return cls(AgentDefinition(name=name, nodePriority=priority, capabilities=caps), router=None)


def envelope(intent, strategy, payload):
    now = now_iso()
    return IntentEnvelope(
        version="1.0",
        intent=IntentRef(name=intent, version="1.0"),
        payload=copy.deepcopy(payload),
        context=IntentContext(sourceAgent="intentus-bench", timestamp=now),
        metadata=IntentMetadata(requestId=str(uuid.uuid4()), source="intentus-bench",
                                createdAt=now, traceId=""),
        routing=RoutingOptions(strategy=strategy),
        routingMetadata=RoutingMetadata(),
    )


def percentile(v, p):
    v = sorted(v)
    rank = max(1, min(len(v), int(p / 100.0 * len(v) + 0.999999)))
    return v[rank - 1]


def main(n, root, mode, record, payload_path):
    with open(payload_path, "rb") as f:
        payload = json.load(f)
    reg = AgentRegistry()
    reg.register(agent(FailAgent, "fail-1", 1, ["bench.fallback"]))
    reg.register(agent(UnavailableAgent, "fail-2", 2, ["bench.fallback"]))
    reg.register(agent(EchoAgent, "echo-a", 3, ["bench.echo", "bench.fallback"]))
    store = FileExecutionStore(root) if record == "on" else None
    router = IntentRouter(reg, record_store=store, require_determinism=True)
    if mode == "direct":
        intent, strategy = "bench.echo", RoutingStrategy.DIRECT
    else:
        intent, strategy = "bench.fallback", RoutingStrategy.FALLBACK
    envs = [envelope(intent, strategy, payload) for _ in range(n)]
    lat = []
    t0 = time.perf_counter()
    for env in envs:
        a = time.perf_counter()
        resp = router.route_intent(env)
        lat.append((time.perf_counter() - a) * 1e6)
        if resp.error is not None:
            sys.exit(f"ref_route: {mode} failed: {resp.error}")
    total = time.perf_counter() - t0
    sizes = []
    if store is not None:
        for name in os.listdir(root):
            if name.endswith(".json"):
                sizes.append(os.path.getsize(os.path.join(root, name)))
        if len(sizes) != n:
            sys.exit(f"ref_route: {len(sizes)} record files for {n} executions in {root}")
    print(json.dumps({"mean_us": sum(lat) / n, "p50_us": percentile(lat, 50),
                      "p99_us": percentile(lat, 99), "per_sec": n / total,
                      "file_bytes": sum(sizes) / len(sizes) if sizes else 0}))


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[3] not in ("direct", "fallback") or \
            sys.argv[4] not in ("on", "off"):
        sys.exit("usage: ref_route.py N DIR direct|fallback on|off PAYLOAD")
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
