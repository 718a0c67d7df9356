// A fetch-like MCP tool server for the example scenario (stdio, the official MCP SDK). It does
// not touch the network: every URL gets a canned page. What matters in the demo is what never
// reaches it — the verifier refuses a call to the cloud metadata address before it gets here.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'example-fetch', version: '1.0.0' });
server.registerTool(
  'fetch',
  { description: 'Fetch a web page and return its text (example: canned pages, no network)', inputSchema: { url: z.string().max(2048) } },
  async ({ url }) => ({ content: [{ type: 'text', text: `(example page) ${url}: OAuth 2.0 device authorization grant, RFC 8628.` }] }),
);
await server.connect(new StdioServerTransport());
