/**
 * The audiences subgraph names every problem of a rule by its node path in one RULE_INVALID
 * message (`invalid audience rule: $.all[1].affinity.dimension: ...; $.all[2]...: ...`); the
 * editor shows each at its node.
 */
export interface RuleProblem {
  path: string;
  message: string;
}

const PREFIX = 'invalid audience rule: ';

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
