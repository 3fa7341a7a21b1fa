// The official MCP TypeScript SDK's client against robot's /mcp (issue 15), with a bearer
// token: initialize, tools/list (the SDK compiles every tool's output schema with Ajv and
// prints a warning for each format it does not know), and tools/call read_note (its
// structured result validated against that schema).
//
// usage: node ts_sdk_client.mjs MCP_URL TOKEN PAGE
// Prints one JSON line: what the client saw, and everything the SDK printed.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, page] = process.argv.slice(2);
const printed = [];
for (const level of ["warn", "error", "log", "info", "debug"]) {
  console[level] = (...args) => printed.push(`${level}: ${args.map(String).join(" ")}`);
}

const client = new Client({ name: "robot-ts-sdk-test", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
await client.connect(transport);
const tools = await client.listTools();
const read = await client.callTool({ name: "read_note", arguments: { path: page } });
await client.close();
process.stdout.write(
  JSON.stringify({
    server: client.getServerVersion(),
    tools: tools.tools.length,
    titled: tools.tools.filter((t) => t.title).length,
    with_output_schema: tools.tools.filter((t) => t.outputSchema).length,
    read_error: Boolean(read.isError),
    read_structured: Boolean(read.structuredContent),
    printed,
  }) + "\n",
);
