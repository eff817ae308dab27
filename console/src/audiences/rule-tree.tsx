/** The rule as a tree of nodes, each with the problems the subgraph found at that node (or below a leaf). */
import { childPath } from './rule-problems';
import type { RuleProblem } from './rule-problems';

function ProblemsAt({ path, problems }: { path: string; problems: RuleProblem[] }) {
  const here = problems.filter((p) => p.path === path);
  if (here.length === 0) return null;
  return (
    <ul className="problems" role="alert">
      {here.map((p) => <li key={p.message}><code>{p.path}</code>: {p.message}</li>)}
    </ul>
  );
}

function Node({ value, path, label, problems }: { value: unknown; path: string; label: string; problems: RuleProblem[] }) {
  const bad = problems.some((p) => p.path === path || p.path.startsWith(`${path}.`) || p.path.startsWith(`${path}[`));
  const children = value && typeof value === 'object' ? (Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value)) : null;
  return (
    <li className={bad ? 'node bad' : 'node'} data-path={path}>
      <span className="node-key">{label}</span>
      {children ? (
        <ul>{children.map(([k, v]) => <Node key={String(k)} value={v} path={childPath(path, k)} label={typeof k === 'number' ? `[${k}]` : k} problems={problems} />)}</ul>
      ) : (
        <code>{JSON.stringify(value)}</code>
      )}
      <ProblemsAt path={path} problems={problems} />
    </li>
  );
}

export function RuleTree({ rule, problems }: { rule: unknown; problems: RuleProblem[] }) {
  return (
    <ul className="rule-tree" aria-label="Rule nodes">
      <Node value={rule} path="$" label="rule" problems={problems} />
    </ul>
  );
}
