// A real MCP client (the official @modelcontextprotocol/sdk) for intentus'
// gateway tests (tests/cli/test_gateway_mcp.c).
//
//   node client.mjs stdio CALLS.json COMMAND [ARGS...]
//   node client.mjs http  CALLS.json URL
//
// Connects (initialize), pings, lists the tools, makes every call in
// CALLS.json ([{"name": TOOL, "arguments": {...}}]) in order and prints one
// JSON document: {"tools": [names], "calls": [{"name", "result"}],
// "responses": [each tools/call response message as the client received it,
// JSON.stringify'd]}. The same script run direct and through the gateway
// must print the same document.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, callsFile, target, ...rest] = process.argv.slice(2);
if (!mode || !callsFile || !target) {
  console.error("usage: client.mjs stdio|http CALLS.json COMMAND|URL [ARGS...]");
  process.exit(2);
}
const calls = JSON.parse(readFileSync(callsFile, "utf8"));
const transport =
  mode === "stdio"
    ? new StdioClientTransport({ command: target, args: rest, stderr: "inherit" })
    : new StreamableHTTPClientTransport(new URL(target));

const client = new Client({ name: "intentus-gateway-test", version: "1.0.0" });
const timer = setTimeout(() => {
  console.error("client.mjs: timed out");
  process.exit(3);
}, 60000);

await client.connect(transport);
// Every message the client receives, before the SDK handles it.
const callIds = new Set();
const responses = [];
const onmessage = transport.onmessage;
transport.onmessage = (msg, extra) => {
  if (msg && msg.id !== undefined && callIds.has(msg.id)) responses.push(JSON.stringify(msg));
  onmessage(msg, extra);
};
const onsend = transport.send.bind(transport);
transport.send = (msg, opts) => {
  if (msg && msg.method === "tools/call") callIds.add(msg.id);
  return onsend(msg, opts);
};

await client.ping();
const tools = (await client.listTools()).tools.map((t) => t.name).sort();
const results = [];
for (const c of calls) {
  const result = await client.callTool({ name: c.name, arguments: c.arguments ?? {} });
  results.push({ name: c.name, result });
}
await client.ping();
await client.close();
clearTimeout(timer);
process.stdout.write(JSON.stringify({ tools, calls: results, responses }) + "\n");
