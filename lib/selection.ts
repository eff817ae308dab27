/** Selection-set checks for resolvers that prefetch what the rest of the query will ask for. */
import { Kind } from 'graphql';
import type { FieldNode, SelectionSetNode } from 'graphql';

/** Whether a field named `name` is selected directly under these field nodes (inline fragments included). */
export function selectsField(fieldNodes: readonly FieldNode[], name: string): boolean {
  const inSet = (set: SelectionSetNode | undefined): boolean =>
    !!set?.selections.some((s) => (s.kind === Kind.FIELD ? s.name.value === name : s.kind === Kind.INLINE_FRAGMENT && inSet(s.selectionSet)));
  return fieldNodes.some((f) => inSet(f.selectionSet));
}
