/**
 * Limits on what one GraphQL operation may ask of the graph, checked at the gateway before any
 * subgraph is called: depth, estimated cost, aliases, directives and tokens, for HTTP and
 * graphql-ws alike. Violations are refused with a message naming the limit
 * (GRAPHQL_VALIDATION_FAILED / GRAPHQL_PARSE_FAILED, HTTP 400). Batched HTTP requests (arrays of
 * operations) are refused too. Depth, aliases and directives are GraphQL Armor's validation rules;
 * the cost estimate is ours (operationCost) because Armor's ignores list sizes given as `limit` or
 * as variables, and it is checked with the operation's variables, so it runs right after
 * validation rather than as a validation rule (which sees no variables).
 */
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { getNamedType, getNullableType, GraphQLError, isInterfaceType, isListType, isObjectType, Kind, parse } from 'graphql';
import type { ApolloServerPlugin } from '@apollo/server';
import type {
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  GraphQLField,
  GraphQLNamedType,
  GraphQLSchema,
  OperationDefinitionNode,
  SelectionSetNode,
  ValidationRule,
} from 'graphql';
import { envInt } from '../../lib/env.js';
import { isPrototypeKey } from '../../lib/json-shape.js';

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
  /** Size counted for a list of objects without a size argument. */
  listSize: number;
  /** Largest list size counted: the most a subgraph returns (larger sizes are refused by the subgraphs). */
  maxListSize: number;
}

export function loadQueryLimits(env: NodeJS.ProcessEnv): QueryLimits {
  return {
    maxDepth: envInt(env, 'GRAPHQL_MAX_DEPTH', 12, 1),
    // List sizes count (operationCost): the home query costs about 500, a row of 100 with its
    // items' fields about 7,000, every profile list at its largest about 17,000, and 15 rows of
    // 100 items (the finding of issue 14) about 29,000.
    maxCost: envInt(env, 'GRAPHQL_MAX_COST', 20_000, 1),
    maxAliases: envInt(env, 'GRAPHQL_MAX_ALIASES', 15, 0),
    maxDirectives: envInt(env, 'GRAPHQL_MAX_DIRECTIVES', 50, 0),
    maxTokens: envInt(env, 'GRAPHQL_MAX_TOKENS', 2000, 1),
    listSize: envInt(env, 'GRAPHQL_COST_LIST_SIZE', 10, 1),
    maxListSize: envInt(env, 'GRAPHQL_COST_MAX_LIST_SIZE', 100, 1),
  };
}

/** Arguments that size a list in schema/*.graphql: `limit` (profile lists, rows), `first` (connections). */
const SIZE_ARGUMENTS = new Set(['limit', 'first']);
/** As GraphQL Armor counts: a scalar 1, an object 2 plus 1.5 × what it selects. */
const SCALAR_COST = 1;
const OBJECT_COST = 2;
const DEPTH_FACTOR = 1.5;

type CostLimits = Pick<QueryLimits, 'maxCost' | 'listSize' | 'maxListSize'> & {
  /** `Type.field` → its size as the schema states it (`@listSize(assumedSize:)`), for lists without a size argument. */
  assumedSizes?: ReadonlyMap<string, number>;
};

/**
 * The list sizes the supergraph states with the cost spec's `@listSize(assumedSize: n)` (a
 * subgraph links federation v2.9 to use it): fixed-length lists such as the metrics of a result.
 */
export function assumedListSizes(supergraphSdl: string): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const def of parse(supergraphSdl).definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    for (const field of def.fields ?? []) {
      const directive = field.directives?.find((d) => d.name.value === 'listSize');
      const arg = directive?.arguments?.find((a) => a.name.value === 'assumedSize');
      if (arg?.value.kind === Kind.INT) sizes.set(`${def.name.value}.${field.name.value}`, Number(arg.value.value));
    }
  }
  return sizes;
}

/**
 * The estimated cost of an operation with its variables. A field with a size argument multiplies
 * what it selects by that size (a literal or a variable's value, at most `maxListSize`, the most
 * any subgraph returns; else the argument's default). Its size also counts for the list right
 * below it (`items(first: 100) { edges }`, `recommendedFor(limit: 10) { items }`); any other list
 * of objects counts `listSize` times. Introspection costs nothing (Sandbox's query is large).
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
  limits: CostLimits,
): number {
  const fragments = new Map(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
  const fragmentCosts = new Map<string, number>();
  const inProgress = new Set<string>();

  const variable = (name: string): unknown => {
    if (variables && name in variables) return variables[name];
    const fallback = operation.variableDefinitions?.find((d) => d.variable.name.value === name)?.defaultValue;
    return fallback?.kind === Kind.INT ? Number(fallback.value) : undefined;
  };
  const size = (node: FieldNode, field: GraphQLField<unknown, unknown> | undefined): number | undefined => {
    const given = node.arguments?.find((a) => SIZE_ARGUMENTS.has(a.name.value));
    const value = given?.value.kind === Kind.INT ? Number(given.value.value) : given?.value.kind === Kind.VARIABLE ? variable(given.value.name.value) : undefined;
    const fallback = field?.args.find((a) => SIZE_ARGUMENTS.has(a.name))?.defaultValue;
    const n = typeof value === 'number' ? value : given && given.value.kind !== Kind.VARIABLE ? limits.maxListSize : fallback;
    // A size over what the subgraphs return is refused by them; it costs no more than the most they return.
    return typeof n === 'number' && Number.isFinite(n) ? Math.min(Math.max(0, n), limits.maxListSize) : undefined;
  };

  const fieldCost = (node: FieldNode, parent: GraphQLNamedType | undefined | null, sized: boolean): number => {
    if (node.name.value === '__schema' || node.name.value === '__type') return 0;
    if (!node.selectionSet) return SCALAR_COST;
    const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[node.name.value] : undefined;
    const list = !!field && isListType(getNullableType(field.type));
    const n = size(node, field);
    const times = n ?? (list && !sized ? ((field && parent ? limits.assumedSizes?.get(`${parent.name}.${field.name}`) : undefined) ?? limits.listSize) : 1);
    // A sized field that is not a list itself sizes the list it selects.
    return (OBJECT_COST + DEPTH_FACTOR * selectionCost(node.selectionSet, field && getNamedType(field.type), n !== undefined && !list)) * times;
  };

  const selectionCost = (set: SelectionSetNode, type: GraphQLNamedType | undefined | null, sized: boolean): number => {
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) cost += fieldCost(selection, type, sized);
      else if (selection.kind === Kind.INLINE_FRAGMENT) {
        cost += selectionCost(selection.selectionSet, selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type, sized);
      } else cost += fragmentCost(fragments.get(selection.name.value), sized);
    }
    return cost;
  };

  // Each fragment is costed once (a fragment spread many times does not take exponential time).
  const fragmentCost = (fragment: FragmentDefinitionNode | undefined, sized: boolean): number => {
    if (!fragment) return 0;
    const key = `${fragment.name.value}\u0000${sized}`;
    const known = fragmentCosts.get(key);
    if (known !== undefined) return known;
    if (inProgress.has(key)) return 0; // a cycle (refused by validation)
    inProgress.add(key);
    const cost = selectionCost(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value), sized);
    inProgress.delete(key);
    fragmentCosts.set(key, cost);
    return cost;
  };

  return selectionCost(operation.selectionSet, schema.getRootType(operation.operation), false);
}

/**
 * The cost limit: GRAPHQL_VALIDATION_FAILED (HTTP 400) over `maxCost`. Checked once the operation
 * and its variables are known (list sizes given as variables count), before anything is fetched:
 * by costLimitPlugin over HTTP, by subscriptions.ts over graphql-ws.
 */
export function costRefusal(
  limits: CostLimits,
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
): GraphQLError | undefined {
  const cost = operationCost(schema, document, operation, variables, limits);
  if (cost <= limits.maxCost) return undefined;
  return new GraphQLError(`Query Cost limit of ${limits.maxCost} exceeded, found ${Math.ceil(cost)} (list sizes count: \`limit\` and \`first\`).`, {
    nodes: operation,
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
  });
}

function costLimitPlugin(limits: CostLimits): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          const refused = operation && costRefusal(limits, schema, document, operation, request.variables);
          if (refused) throw refused;
        },
      };
    },
  };
}

/**
 * Input literals whose object keys name a prototype (`{ __proto__: … }`) are refused here, before
 * any subgraph is called: the one JSON-key rule of lib/json-shape.ts, which the subgraphs' JSON
 * scalars and the variables check apply too.
 */
const noPrototypeKeys: ValidationRule = (context) => ({
  ObjectField(node) {
    if (!isPrototypeKey(node.name.value)) return;
    context.reportError(
      new GraphQLError(`input must not use the key "${node.name.value}": keys __proto__, constructor and prototype are refused`, { nodes: [node] }),
    );
  },
});

export function queryProtection(queryLimits: QueryLimits, assumedSizes: ReadonlyMap<string, number> = new Map()) {
  const limits = { ...queryLimits, assumedSizes };
  const protection = new ApolloArmor({
    maxDepth: { n: limits.maxDepth },
    // Armor's cost limit counts only literal `first` / `last`: costRefusal above replaces it.
    costLimit: { enabled: false },
    maxAliases: { n: limits.maxAliases },
    maxDirectives: { n: limits.maxDirectives },
    // Tokens are limited by the parser itself (parseOptions below): a clean GRAPHQL_PARSE_FAILED.
    maxTokens: { enabled: false },
    // "Did you mean …?" suggestions are dropped from every error in production by the shared
    // error settings (lib/graphql/errors.ts), over HTTP and graphql-ws alike.
    blockFieldSuggestion: { enabled: false },
  }).protect();
  return {
    // GraphQL Armor's types name @apollo/server's CommonJS build; the plugins are the same objects.
    plugins: [...(protection.plugins as unknown as ApolloServerPlugin[]), costLimitPlugin(limits)],
    // The same rules serve graphql-ws operations, which do not pass Apollo Server's pipeline.
    validationRules: [...(protection.validationRules as ValidationRule[]), noPrototypeKeys],
    parseOptions: { maxTokens: limits.maxTokens },
    cost: (schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown> | undefined) =>
      costRefusal(limits, schema, document, operation, variables),
  };
}
