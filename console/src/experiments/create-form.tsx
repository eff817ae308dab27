/** Create an experiment (DRAFT): key, name and variants with weights that sum to 1. */
import { useMutation } from '@apollo/client/react';
import { useState } from 'react';
import type { ChangeEvent, FormEvent } from 'react';
import { navigate } from '../router';
import { ErrorNote } from '../ui/status';
import { CREATE_EXPERIMENT, EXPERIMENTS_QUERY } from './queries';
import { inputValue } from '../ui/forms';

/** `control:0.5, treatment:0.5` → variant inputs; null when a part is not `key:weight`. */
export function parseVariants(text: string): Array<{ key: string; weight: number }> | null {
  const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
  const variants = parts.map((p) => {
    const [key, weight] = p.split(':').map((s) => s.trim());
    return { key: key ?? '', weight: Number(weight) };
  });
  return variants.length >= 2 && variants.every((v) => v.key && Number.isFinite(v.weight)) ? variants : null;
}

export function CreateExperimentForm() {
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [variants, setVariants] = useState('control:0.5, treatment:0.5');
  const [create, { loading, error }] = useMutation<{ createExperiment: { key: string } }>(CREATE_EXPERIMENT, { refetchQueries: [EXPERIMENTS_QUERY] });
  const parsed = parseVariants(variants);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!parsed) return;
    const result = await create({ variables: { input: { key, name, variants: parsed } } }).catch(() => null);
    if (result?.data) navigate('experiments', result.data.createExperiment.key);
  };
  return (
    <form className="stack" onSubmit={submit} aria-labelledby="create-experiment">
      <h3 id="create-experiment">New experiment</h3>
      <label>Key <input value={key} onChange={(e: ChangeEvent) => setKey(inputValue(e))} required /></label>
      <label>Name <input value={name} onChange={(e: ChangeEvent) => setName(inputValue(e))} required /></label>
      <label>
        Variants (key:weight, …)
        <input value={variants} onChange={(e: ChangeEvent) => setVariants(inputValue(e))} aria-invalid={parsed ? undefined : true} />
      </label>
      {!parsed ? <p className="error" role="alert">Give at least two variants as key:weight.</p> : null}
      {error ? <ErrorNote error={error} /> : null}
      <button type="submit" disabled={loading || !parsed}>Create (draft)</button>
    </form>
  );
}
