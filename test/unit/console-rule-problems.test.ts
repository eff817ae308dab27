/**
 * The console's rule editor reads a rule's problems from the RULE_INVALID error's
 * `extensions.problems` (what the audiences subgraph sends), and from its message when the
 * extensions lack them.
 */
import { describe, expect, it } from 'vitest';
import { extensionProblems, ruleProblems } from '../../console/src/audiences/rule-problems.js';

describe('console rule problems', () => {
  it('takes the problems from the extensions of a RULE_INVALID error', () => {
    const problems = [{ path: '$.all[1].affinity.dimension', message: 'dimension must be one of genre, category, facet' }];
    expect(extensionProblems({ code: 'RULE_INVALID', problems })).toEqual(problems);
  });

  it('ignores other codes, missing or malformed problems', () => {
    expect(extensionProblems(undefined)).toBeNull();
    expect(extensionProblems({ code: 'AUDIENCE_NOT_FOUND', problems: [{ path: '$', message: 'x' }] })).toBeNull();
    expect(extensionProblems({ code: 'RULE_INVALID' })).toBeNull();
    expect(extensionProblems({ code: 'RULE_INVALID', problems: [{ path: 1 }, null] })).toBeNull();
    expect(extensionProblems({ code: 'RULE_INVALID', problems: [{ path: '$.a', message: 'm', extra: true }, 'x'] })).toEqual([{ path: '$.a', message: 'm' }]);
  });

  it('still reads them from the message', () => {
    expect(ruleProblems('invalid audience rule: $.all[0].traits: must be an object; $.any: must not be empty')).toEqual([
      { path: '$.all[0].traits', message: 'must be an object' },
      { path: '$.any', message: 'must not be empty' },
    ]);
    expect(ruleProblems('something else')).toBeNull();
  });
});
