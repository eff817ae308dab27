/**
 * The dependency rule (`npm run check:deps`, part of `npm test`): what crosses a service boundary
 * lives in lib/contracts/; no subgraph imports another subgraph's source, the gateway or platform/;
 * lib/ imports no service; the gateway imports no subgraph. See README, Layout.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-subgraph-imports-another',
      comment: 'A subgraph talks to another only through the graph; shared types and rules go to lib/contracts/.',
      severity: 'error',
      from: { path: '^subgraphs/([^/]+)/' },
      to: { path: '^subgraphs/', pathNot: '^subgraphs/$1/' },
    },
    {
      name: 'lib-imports-no-service',
      comment: 'lib/ is shared by every service: it depends on none of them.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(subgraphs|gateway|platform|demo|bench|replay|simulator)/' },
    },
    {
      name: 'contracts-do-no-io',
      comment: 'lib/contracts/ is pure: types, rules and functions over values (hashing with node:crypto included), usable anywhere.',
      severity: 'error',
      from: { path: '^lib/contracts/' },
      to: { dependencyTypes: ['core', 'npm', 'npm-dev'], pathNot: '^(node:)?crypto$' },
    },
    {
      name: 'contracts-import-only-pure-lib',
      severity: 'error',
      from: { path: '^lib/contracts/' },
      to: { path: '^lib/', pathNot: '^lib/(contracts/|env\\.ts$|json-shape\\.ts$)' },
    },
    {
      name: 'gateway-imports-no-subgraph',
      comment: 'The gateway knows the subgraphs by their schemas and URLs only.',
      severity: 'error',
      from: { path: '^gateway/' },
      to: { path: '^(subgraphs|platform|demo)/' },
    },
    {
      name: 'services-import-no-platform',
      comment: 'A service composes its own stores and seeds nothing; platform/ composes services and seeds demo data.',
      severity: 'error',
      from: { path: '^subgraphs/' },
      to: { path: '^(gateway|platform|demo|bench|replay|simulator|scripts)/' },
    },
    {
      name: 'no-circular',
      comment: 'Type-only cycles (a context type declared beside the code that builds it) are harmless.',
      severity: 'error',
      from: { path: '^(lib|gateway|subgraphs)/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|__generated__' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
