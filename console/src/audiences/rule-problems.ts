/**
 * The audiences subgraph names every problem of a rule by its node path: as data in the error's
 * `extensions.problems` (`[{ path: '$.all[1].affinity.dimension', message }]`), and in one
 * RULE_INVALID message (`invalid audience rule: $.all[1].affinity.dimension: ...; ...`), which
 * is read when the extensions lack them. The editor shows each at its node.
 */
export interface RuleProblem {
  path: string;
  message: string;
}

const PREFIX = 'invalid audience rule: ';

/** The problems a RULE_INVALID error carries in its extensions, or null. */
export function extensionProblems(extensions: Readonly<Record<string, unknown>> | undefined): RuleProblem[] | null {
  const problems = extensions?.['problems'];
  if (extensions?.['code'] !== 'RULE_INVALID' || !Array.isArray(problems)) return null;
  const valid = problems.filter((p): p is RuleProblem => typeof p?.path === 'string' && typeof p?.message === 'string');
  return valid.length > 0 ? valid.map(({ path, message }) => ({ path, message })) : null;
}

export function ruleProblems(message: string): RuleProblem[] | null {
  if (!message.startsWith(PREFIX)) return null;
  return message
    .slice(PREFIX.length)
    // A problem starts at a path (`$` ...): messages themselves may hold "; ".
    .split(/; (?=\$)/)
    .map((part) => {
      const at = part.indexOf(': ');
      return at < 0 ? { path: '$', message: part } : { path: part.slice(0, at), message: part.slice(at + 2) };
    });
}

/** The path of a child node, in the subgraph's notation. */
export function childPath(parent: string, key: string | number): string {
  return typeof key === 'number' ? `${parent}[${key}]` : `${parent}.${key}`;
}
