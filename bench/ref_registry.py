"""The reference's side of `intentus-bench --only config`.

Loads the same agents file the C bench writes ({"agents": [{"name", "intents",
"nodePriority"}, ...]}) the way a reference runtime holds agents: one
AgentDefinition per agent (one Capability per intent), registered in the
reference's AgentRegistry, then one find_agents_for_intent lookup, as a
router's first call makes. Prints the seconds taken (json.load included, as
intentus's figure includes its parse) on one line.

Run with PYTHONPATH holding the reference (shared/reference/python):
    python3 bench/ref_registry.py FILE
"""

import json
import sys
import time

from intentusnet.core.agent import BaseAgent
from intentusnet.core.registry import AgentRegistry
from intentusnet.protocol.agent import AgentDefinition, Capability
from intentusnet.protocol.intent import IntentRef


class EchoAgent(BaseAgent):
    def handle_intent(self, env):  # never called: registration only
        raise NotImplementedError


def main(path):
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        doc = json.load(f)
    reg = AgentRegistry()
    for a in doc["agents"]:
        caps = [Capability(intent=IntentRef(name=i, version="*")) for i in a["intents"]]
        d = AgentDefinition(name=a["name"], nodePriority=a.get("nodePriority", 100),
                            capabilities=caps)
        reg.register(EchoAgent(d, router=None))
    reg.find_agents_for_intent(IntentRef(name="bench.i1", version="1.0"))
    print(f"{time.perf_counter() - t0:.6f}")


if __name__ == "__main__":
    main(sys.argv[1])
