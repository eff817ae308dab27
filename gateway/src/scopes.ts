/**
 * Fields that need a role, as the supergraph says: the subgraphs mark them with federation's
 * `@requiresScopes(scopes: [["service"]])` in schema/*.graphql, composition carries it into
 * schema/supergraph.graphql, and the gateway refuses an operation that selects one (FORBIDDEN,
 * HTTP 403) before anything is fetched, over HTTP and graphql-ws, unless the caller's roles
 * satisfy one of the field's scope sets (the outer list is "any of", each inner list "all of").
 * The subgraphs keep their own checks (src/schema/auth-rules.ts): this one only makes sure that
 * what they would refuse never reaches them, 1 MB `ingestEvents` bodies of user tokens included.
 *
 * @apollo/gateway refuses to load a supergraph that links a `for: SECURITY` feature it does not
 * enforce, and requiresScopes is enforced by Apollo Router only. This gateway enforces it here, so
 * it hands ApolloGateway the supergraph with that link's `for:` removed; anything of the feature
 * this code does not enforce (the directive on a type rather than a field) fails at startup.
 */
import { getNamedType, isInterfaceType, isObjectType, Kind, parse, print, valueFromASTUntyped, visit } from 'graphql';
import type {
  ArgumentNode,
  DirectiveNode,
  DocumentNode,
  FragmentDefinitionNode,
  GraphQLError,
  GraphQLNamedType,
  GraphQLSchema,
  OperationDefinitionNode,
  SelectionSetNode,
} from 'graphql';
import { forbidden } from '../../lib/auth.js';
import type { Identity } from '../../lib/auth.js';

const REQUIRES_SCOPES = 'https://specs.apollo.dev/requiresScopes/';

interface Requirement {
  /** `Type.field` */
  coordinate: string;
  /** Any of these sets, each needed whole. */
  scopes: string[][];
}

const stringArgument = (directive: DirectiveNode, name: string): string | undefined => {
  const arg = directive.arguments?.find((a) => a.name.value === name);
  return arg?.value.kind === Kind.STRING ? arg.value.value : undefined;
};
const isScopesLink = (directive: DirectiveNode) => directive.name.value === 'link' && !!stringArgument(directive, 'url')?.startsWith(REQUIRES_SCOPES);

export class RequiredScopes {
  /** The supergraph for ApolloGateway: requiresScopes linked without its SECURITY purpose. */
  readonly gatewaySupergraph: string;
  private readonly byField = new Map<string, string[][]>();

  /** `Type.field` → the scope sets it needs (any of them, each whole). */
  get fields(): ReadonlyMap<string, readonly (readonly string[])[]> {
    return this.byField;
  }
  private readonly byOperation = new WeakMap<OperationDefinitionNode, readonly Requirement[]>();

  constructor(supergraphSdl: string) {
    const document = parse(supergraphSdl);
    const link = document.definitions
      .flatMap((d) => (d.kind === Kind.SCHEMA_DEFINITION || d.kind === Kind.SCHEMA_EXTENSION ? (d.directives ?? []) : []))
      .find(isScopesLink);
    if (!link) {
      this.gatewaySupergraph = supergraphSdl;
      return;
    }
    const directiveName = stringArgument(link, 'as') ?? 'requiresScopes';
    visit(document, {
      Directive: (node, _key, _parent, _path, ancestors) => {
        if (node.name.value !== directiveName) return;
        const field = ancestors.at(-1);
        const type = ancestors.at(-3);
        const typeName = type && 'name' in type ? (type.name as { value: string } | undefined)?.value : undefined;
        if (!field || !('kind' in field) || field.kind !== Kind.FIELD_DEFINITION || !typeName) {
          throw new Error(`@${directiveName} is enforced by this gateway on fields only; put it on the fields instead (${typeName ?? 'schema'})`);
        }
        const scopes = node.arguments?.find((a) => a.name.value === 'scopes');
        this.byField.set(`${typeName}.${field.name.value}`, scopes ? (valueFromASTUntyped(scopes.value) as string[][]) : []);
      },
    });
    this.gatewaySupergraph = print(
      visit(document, {
        Argument: (node: ArgumentNode, _key, _parent, _path, ancestors) => {
          const directive = ancestors.at(-1);
          return node.name.value === 'for' && directive && 'kind' in directive && directive.kind === Kind.DIRECTIVE && isScopesLink(directive) ? null : undefined;
        },
      }),
    );
  }

  /** FORBIDDEN (403) when the operation selects a field the caller's roles do not open. */
  refusal(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, identity: Identity | null): GraphQLError | undefined {
    if (this.byField.size === 0) return undefined;
    let requirements = this.byOperation.get(operation);
    if (!requirements) this.byOperation.set(operation, (requirements = this.requirements(schema, document, operation)));
    const roles: readonly string[] = identity?.roles ?? [];
    const unmet = requirements.find((r) => !r.scopes.some((all) => all.every((scope) => roles.includes(scope))));
    if (!unmet) return undefined;
    const needed = unmet.scopes.map((all) => all.join(' and ')).join(' or ');
    return forbidden(`${unmet.coordinate} requires the ${needed} role (a ${needed} token)`, 403);
  }

  /** The fields with scopes that `operation` selects (through fragments too). */
  private requirements(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): Requirement[] {
    const fragments = new Map(
      document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
    );
    const found: Requirement[] = [];
    const visited = new Set<string>();
    const walk = (set: SelectionSetNode, type: GraphQLNamedType | undefined | null): void => {
      for (const selection of set.selections) {
        if (selection.kind === Kind.FIELD) {
          if (!isObjectType(type) && !isInterfaceType(type)) continue;
          const name = selection.name.value;
          // A field of an interface is each implementation's field.
          for (const owner of isInterfaceType(type) ? [type, ...schema.getPossibleTypes(type)] : [type]) {
            const scopes = this.byField.get(`${owner.name}.${name}`);
            if (scopes) found.push({ coordinate: `${owner.name}.${name}`, scopes });
          }
          const field = type.getFields()[name];
          if (field && selection.selectionSet) walk(selection.selectionSet, getNamedType(field.type));
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          walk(selection.selectionSet, selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type);
        } else {
          const fragment = fragments.get(selection.name.value);
          if (!fragment || visited.has(fragment.name.value)) continue;
          visited.add(fragment.name.value);
          walk(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value));
        }
      }
    };
    walk(operation.selectionSet, schema.getRootType(operation.operation));
    return found;
  }
}
