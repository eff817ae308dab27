/**
 * The rule editor: JSON text, checked by the audiences subgraph itself (previewAudience validates
 * the rule like createAudience does), problems shown at their node, a preview before creating.
 */
import { CombinedGraphQLErrors } from '@apollo/client';
import { useMutation } from '@apollo/client/react';
import { useState } from 'react';
import type { ChangeEvent, FormEvent } from 'react';
import { navigate } from '../router';
import { ErrorNote } from '../ui/status';
import { AUDIENCES_QUERY, CREATE_AUDIENCE, PREVIEW } from './queries';
import type { Preview } from './queries';
import { extensionProblems, ruleProblems } from './rule-problems';
import type { RuleProblem } from './rule-problems';
import { RuleTree } from './rule-tree';
import { inputValue } from '../ui/forms';

const EXAMPLE = JSON.stringify({ events: { types: ['PLAY', 'COMPLETE'], genre: 'Comedy', within: '7d', gte: 2 } }, null, 2);

function parseRule(text: string): { rule: unknown } | { syntax: string } {
  try {
    return { rule: JSON.parse(text) };
  } catch (e) {
    return { syntax: e instanceof Error ? e.message : String(e) };
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The rule's problems from the subgraph's answer: its extensions, or else its message. */
function problemsOf(error: unknown): RuleProblem[] {
  if (CombinedGraphQLErrors.is(error)) {
    for (const e of error.errors) {
      const found = extensionProblems(e.extensions);
      if (found) return found;
    }
    for (const e of error.errors) {
      const parsed = ruleProblems(e.message);
      if (parsed) return parsed;
    }
  }
  return ruleProblems(errorMessage(error)) ?? [];
}

export function RuleEditor() {
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [text, setText] = useState(EXAMPLE);
  const [preview, previewState] = useMutation<{ previewAudience: Preview }>(PREVIEW);
  const [create, createState] = useMutation<{ createAudience: { id: string } }>(CREATE_AUDIENCE, { refetchQueries: [AUDIENCES_QUERY] });
  const parsed = parseRule(text);
  const failure = previewState.error ?? createState.error;
  const problems: RuleProblem[] = failure ? problemsOf(failure) : [];
  const onPreview = () => {
    if ('rule' in parsed) void preview({ variables: { rule: parsed.rule } }).catch(() => null);
  };
  const onCreate = async (e: FormEvent) => {
    e.preventDefault();
    if (!('rule' in parsed)) return;
    const result = await create({ variables: { input: { id, name, rule: parsed.rule } } }).catch(() => null);
    if (result?.data) navigate('audiences', result.data.createAudience.id);
  };
  const result = previewState.error ? null : previewState.data?.previewAudience;
  return (
    <form className="stack rule-editor" onSubmit={onCreate} aria-labelledby="rule-editor-title">
      <h3 id="rule-editor-title">New audience</h3>
      <label>Id <input value={id} onChange={(e: ChangeEvent) => setId(inputValue(e))} required pattern="[a-z0-9][a-z0-9_\-]{0,63}" /></label>
      <label>Name <input value={name} onChange={(e: ChangeEvent) => setName(inputValue(e))} required /></label>
      <label htmlFor="rule-text">Rule (JSON, see README: the rule language)</label>
      <textarea id="rule-text" rows={8} spellCheck={false} value={text} onChange={(e: ChangeEvent) => setText(inputValue(e))} aria-invalid={'syntax' in parsed || problems.length > 0 ? true : undefined} />
      {'syntax' in parsed ? <p className="error" role="alert">Not JSON: {parsed.syntax}</p> : <RuleTree rule={parsed.rule} problems={problems} />}
      {failure && problems.length === 0 ? <ErrorNote error={failure} /> : null}
      <div className="actions">
        <button type="button" onClick={onPreview} disabled={'syntax' in parsed || previewState.loading}>Check and preview</button>
        <button type="submit" disabled={'syntax' in parsed || createState.loading}>Create audience</button>
      </div>
      {result ? (
        <p role="status" data-testid="preview">
          Estimated size <strong>{result.estimatedSize ?? 'unknown'}</strong> ({result.exact ? 'exact' : `estimated from ${result.sampled} profiles`}, {result.matched} matched)
          {result.sample.length ? `; e.g. ${result.sample.map((u) => u.id).join(', ')}` : ''}
        </p>
      ) : null}
    </form>
  );
}
