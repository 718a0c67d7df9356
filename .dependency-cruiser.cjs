// The import rules of the repository (docs/design.md §14), checked by `npm run lint:deps` in
// `npm test` on the built JavaScript (packages/*/dist: the imports that run; dependency-cruiser
// cannot parse TypeScript 7's sources, and type-only imports are erased there). Imports only
// point down:
//
//   packages/server/src:  cli → devbus → console → ops → { verifier, auditor, mcp, memory, a2a } → common
//   packages:             server → sdk → protocol
//
// and nothing imports in a circle.
const server = '^packages/server/dist/';
const room = (name) => `${server}${name}/`;
const rooms = ['cli', 'devbus', 'console', 'ops', 'verifier', 'auditor', 'mcp', 'memory', 'a2a', 'common'];
const layer = { cli: 5, devbus: 4, console: 3, ops: 2, verifier: 1, auditor: 1, mcp: 1, memory: 1, a2a: 1, common: 0 };

const upward = [];
for (const from of rooms) {
  // a room may import rooms of lower layers only (and itself); rooms of one layer do not import each other
  const forbidden = rooms.filter((to) => to !== from && layer[to] >= layer[from]);
  if (forbidden.length) {
    upward.push({
      name: `${from}-imports-down-only`,
      comment: `${from}/ may import only rooms below it (${rooms.filter((to) => layer[to] < layer[from]).join(', ') || 'none'})`,
      severity: 'error',
      from: { path: room(from) },
      to: { path: `${server}(${forbidden.join('|')})/` },
    });
  }
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'modules do not import each other in a circle',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'sdk-not-server',
      comment: 'what an agent installs carries no server code (docs/design.md §14)',
      severity: 'error',
      from: { path: '^packages/(sdk|protocol)/dist/' },
      to: { path: '^packages/server/' },
    },
    {
      name: 'protocol-not-sdk',
      comment: 'the protocol is the bottom layer',
      severity: 'error',
      from: { path: '^packages/protocol/dist/' },
      to: { path: '^packages/sdk/' },
    },
    {
      name: 'server-rooms-only',
      comment: 'server code lives in one of the rooms (a file straight in src/ would belong to none)',
      severity: 'error',
      from: { path: `${server}[^/]+\\.js$` },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|examples)/|\\.d\\.ts$' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'], extensions: ['.js', '.mjs', '.json'] },
  },
};
