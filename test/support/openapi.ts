/**
 * Checks real answers against docs/openapi.yaml: the operation must document the
 * status, and the body and headers must match what it documents.
 *
 * Schemas are compiled with Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1).
 * One deliberate difference from a client's reading of the file: every object
 * schema that declares `type: object` and does not say whether it allows more
 * properties is closed here. The contract lets responses gain fields, so the file
 * leaves them open for clients; the tests close them so that a field the code
 * sends but the file does not list fails a test instead of drifting silently.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

export const SPEC_FILE = new URL('../../docs/openapi.yaml', import.meta.url);

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
type HttpMethod = (typeof HTTP_METHODS)[number];

type JsonObject = { [key: string]: unknown };

export interface HeaderObject {
  readonly $ref?: string;
  readonly required?: boolean;
  readonly schema?: unknown;
}

export interface MediaTypeObject {
  readonly schema?: unknown;
}

export interface ResponseObject {
  readonly $ref?: string;
  readonly description?: string;
  readonly headers?: Record<string, HeaderObject>;
  readonly content?: Record<string, MediaTypeObject>;
}

export interface ServerObject {
  readonly url: string;
}

export interface OperationObject {
  readonly operationId?: string;
  readonly tags?: readonly string[];
  readonly servers?: readonly ServerObject[];
  /** Served by the local stack only: not in the route table, not on AWS. */
  readonly 'x-fairqueue-local-only'?: boolean;
  readonly security?: readonly Record<string, readonly string[]>[];
  readonly requestBody?: unknown;
  readonly responses: Record<string, ResponseObject>;
}

export type PathItem = {
  readonly parameters?: readonly unknown[];
  readonly servers?: readonly ServerObject[];
} & {
  readonly [M in HttpMethod]?: OperationObject;
};

export interface OpenApiDoc {
  readonly openapi: string;
  readonly paths: Record<string, PathItem>;
  readonly components: {
    readonly schemas: Record<string, unknown>;
    readonly responses?: Record<string, ResponseObject>;
    readonly headers?: Record<string, HeaderObject>;
    readonly securitySchemes?: Record<string, unknown>;
  };
  readonly servers?: readonly ServerObject[];
  readonly security?: readonly Record<string, readonly string[]>[];
  readonly 'x-fairqueue-gateway-responses'?: Record<string, ResponseObject>;
  readonly 'x-fairqueue-websocket'?: {
    /** The answers that refuse a handshake, by status. */
    readonly handshake?: Record<string, ResponseObject>;
    readonly serverMessages?: unknown;
    readonly clientMessages?: unknown;
  };
}

/** What one checked answer was, for coverage bookkeeping. */
export interface CheckedAnswer {
  /** `METHOD /path/{template}`, as in the route table. */
  readonly operation: string;
  readonly status: number;
  /** `error.code` of an error body. */
  readonly code?: string;
}

const SCHEMA_BASE = 'https://fairqueue.invalid/openapi.yaml';
const COMPONENT_SCHEMA_REF = '#/components/schemas/';

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function loadDoc(): OpenApiDoc {
  const raw: unknown = parse(readFileSync(SPEC_FILE, 'utf8'));
  if (!isObject(raw) || typeof raw.openapi !== 'string' || !raw.openapi.startsWith('3.1.')) {
    throw new Error('docs/openapi.yaml is not an OpenAPI 3.1 document');
  }
  if (!isObject(raw.paths) || !isObject(raw.components) || !isObject(raw.components.schemas)) {
    throw new Error('docs/openapi.yaml needs `paths` and `components.schemas`');
  }
  for (const [path, item] of Object.entries(raw.paths)) {
    if (!isObject(item)) throw new Error(`docs/openapi.yaml: path ${path} is not an object`);
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (op !== undefined && (!isObject(op) || !isObject(op.responses))) {
        throw new Error(`docs/openapi.yaml: ${method.toUpperCase()} ${path} has no responses`);
      }
    }
  }
  // The shape was checked above, as far as this module relies on it.
  return raw as unknown as OpenApiDoc;
}

let cachedDoc: OpenApiDoc | undefined;

/** The parsed docs/openapi.yaml (read once). */
export function loadSpec(): OpenApiDoc {
  cachedDoc ??= loadDoc();
  return cachedDoc;
}

/** Follows a local `$ref` (`#/a/b~1c`) through the document, including chains of refs. */
export function resolveRef<T>(node: T & { $ref?: string }, seen: string[] = []): T {
  const ref = node.$ref;
  if (ref === undefined) return node;
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
  if (seen.includes(ref)) throw new Error(`circular $ref ${[...seen, ref].join(' -> ')}`);
  let target: unknown = loadSpec();
  for (const part of ref.slice(2).split('/')) {
    const key = part.replaceAll('~1', '/').replaceAll('~0', '~');
    target = isObject(target) ? target[key] : undefined;
    if (target === undefined) throw new Error(`docs/openapi.yaml: $ref ${ref} points nowhere`);
  }
  return resolveRef(target as T & { $ref?: string }, [...seen, ref]);
}

/**
 * Operations of the file as route keys, `METHOD /path`: every one by default, or only those
 * marked `x-fairqueue-local-only: true` (`'local-only'`), or only the others (`'routes'`, which
 * must be the route table).
 */
export function specOperations(which: 'all' | 'routes' | 'local-only' = 'all'): string[] {
  const out: string[] = [];
  for (const [path, item] of Object.entries(loadSpec().paths)) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!op) continue;
      const localOnly = op['x-fairqueue-local-only'] === true;
      if (which === 'all' || localOnly === (which === 'local-only')) {
        out.push(`${method.toUpperCase()} ${path}`);
      }
    }
  }
  return out;
}

/** The servers an operation is served by: its own, else its path's, else the file's. */
export function serversOf(method: string, path: string): readonly ServerObject[] {
  const { template, op } = operationFor(method, path);
  return op.servers ?? loadSpec().paths[template]?.servers ?? loadSpec().servers ?? [];
}

function templateRegex(template: string): RegExp {
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => (/^\{[^}]+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

/** The path template of the file that `path` (a template or a concrete path, query ignored) is. */
export function pathTemplate(path: string): string {
  const { paths } = loadSpec();
  const bare = path.split('?')[0] ?? path;
  if (paths[bare]) return bare;
  const matches = Object.keys(paths).filter((template) => templateRegex(template).test(bare));
  // A literal segment beats a parameter, as in any router.
  matches.sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  const best = matches[0];
  if (best === undefined) throw new Error(`docs/openapi.yaml has no path matching ${path}`);
  return best;
}

/** The operation for `method` and a path (template or concrete). */
export function operationFor(
  method: string,
  path: string,
): { operation: string; template: string; op: OperationObject } {
  const template = pathTemplate(path);
  const lower = method.toLowerCase();
  const item = loadSpec().paths[template];
  const op = (HTTP_METHODS as readonly string[]).includes(lower) ? item?.[lower as HttpMethod] : undefined;
  const operation = `${method.toUpperCase()} ${template}`;
  if (!op) throw new Error(`docs/openapi.yaml has no operation ${operation}`);
  return { operation, template, op };
}

/** Rewrites `#/components/schemas/X` to an absolute ref into the registered components schema. */
function absoluteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(absoluteRefs);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string') {
      if (!value.startsWith(COMPONENT_SCHEMA_REF)) {
        throw new Error(`schemas may only $ref '#/components/schemas/…', got ${value}`);
      }
      out[key] = `${SCHEMA_BASE}#/$defs/${value.slice(COMPONENT_SCHEMA_REF.length)}`;
    } else {
      out[key] = absoluteRefs(value);
    }
  }
  return out;
}

/** Closes every `type: object` schema that leaves its extra properties unsaid (see the file comment). */
function closeObjects(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeObjects);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = closeObjects(value);
  const type = node.type;
  const isObjectType = type === 'object' || (Array.isArray(type) && type.includes('object'));
  if (
    isObjectType &&
    isObject(node.properties) &&
    node.additionalProperties === undefined &&
    node.unevaluatedProperties === undefined
  ) {
    out.additionalProperties = false;
  }
  return out;
}

let cachedAjv: Ajv2020 | undefined;

function ajv(): Ajv2020 {
  if (cachedAjv) return cachedAjv;
  const instance = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  addFormats(instance);
  // OpenAPI's own schema keywords, harmless annotations to a validator.
  instance.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator']);
  instance.addSchema(
    { $id: SCHEMA_BASE, $defs: closeObjects(absoluteRefs(loadSpec().components.schemas)) },
    SCHEMA_BASE,
  );
  cachedAjv = instance;
  return instance;
}

const validators = new Map<string, ValidateFunction>();

function validatorFor(key: string, schema: unknown): ValidateFunction {
  let validate = validators.get(key);
  if (!validate) {
    const prepared = closeObjects(absoluteRefs(schema));
    if (!isObject(prepared) && typeof prepared !== 'boolean')
      throw new Error(`${key}: schema is not an object`);
    validate = ajv().compile(prepared);
    validators.set(key, validate);
  }
  return validate;
}

/** A validator for `#/components/schemas/<name>`. */
export function schemaValidator(name: string): ValidateFunction {
  if (!(name in loadSpec().components.schemas)) throw new Error(`no component schema ${name}`);
  return validatorFor(`schema:${name}`, { $ref: `${COMPONENT_SCHEMA_REF}${name}` });
}

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => `  - ${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
    .join('\n');
}

function show(value: unknown): string {
  const text = JSON.stringify(value, null, 2) ?? String(value);
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

type HeaderSource = Headers | Record<string, string | undefined>;

function headerValue(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const lower = name.toLowerCase();
  return Object.entries(headers).find(([key]) => key.toLowerCase() === lower)?.[1];
}

function errorCode(body: unknown): string | undefined {
  if (!isObject(body) || !isObject(body.error)) return undefined;
  return typeof body.error.code === 'string' ? body.error.code : undefined;
}

function checkResponse(
  label: string,
  key: string,
  response: ResponseObject,
  body: unknown,
  headers: HeaderSource | undefined,
): void {
  const problems: string[] = [];
  const json = response.content?.['application/json'];
  const text = response.content?.['text/plain'];
  const empty = body === null || body === undefined || body === '';
  if (!response.content) {
    if (!empty) problems.push(`documents no body, got ${show(body)}`);
  } else if (!json && text) {
    // Plain text (the local Prometheus exposition): the body is checked as a string.
    const validate = validatorFor(`${key}:text`, text.schema ?? {});
    if (typeof body !== 'string' || !validate(body)) problems.push(`text body does not match the spec`);
    const contentType = headers && headerValue(headers, 'content-type');
    if (headers && !/^text\/plain\b/i.test(contentType ?? '')) {
      problems.push(`Content-Type is ${contentType ?? 'missing'}, documented text/plain`);
    }
  } else if (!json) {
    problems.push(`documents no application/json content (${Object.keys(response.content).join(', ')})`);
  } else {
    const validate = validatorFor(`${key}:body`, json.schema ?? {});
    if (!validate(body)) problems.push(`body does not match:\n${describeErrors(validate.errors)}`);
    const contentType = headers && headerValue(headers, 'content-type');
    if (headers && !/^application\/json\b/i.test(contentType ?? '')) {
      problems.push(`Content-Type is ${contentType ?? 'missing'}, documented application/json`);
    }
  }
  if (headers) {
    for (const [name, ref] of Object.entries(response.headers ?? {})) {
      const header = resolveRef(ref);
      const value = headerValue(headers, name);
      if (value === undefined) {
        if (header.required) problems.push(`header ${name} is documented as required and missing`);
        continue;
      }
      if (header.schema === undefined) continue;
      const validate = validatorFor(`${key}:header:${name}`, header.schema);
      // Headers are text: a documented number is checked as the number it spells.
      const typed = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
      if (!validate(typed)) {
        problems.push(
          `header ${name}: ${JSON.stringify(value)} does not match:\n${describeErrors(validate.errors)}`,
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `${label} disagrees with docs/openapi.yaml:\n${problems.join('\n')}\nbody: ${show(body)}`,
    );
  }
}

/**
 * Throws a readable error unless docs/openapi.yaml documents `status` for the
 * operation and `body` (and, when given, `headers`) match what it documents.
 *
 * @param method HTTP method, any case.
 * @param path a path template of the file (`/v1/events/{eventId}/join`) or a concrete path.
 * @example expectMatchesSpec('POST', '/v1/events/{eventId}/join', res.status, res.body, res.headers)
 */
export function expectMatchesSpec(
  method: string,
  path: string,
  status: number,
  body: unknown,
  headers?: HeaderSource,
): CheckedAnswer {
  const { operation, op } = operationFor(method, path);
  const documented = Object.keys(op.responses);
  const entry =
    op.responses[String(status)] ?? op.responses[`${String(status)[0]}XX`] ?? op.responses.default;
  if (!entry) {
    throw new Error(
      `${operation} answered ${status}, which docs/openapi.yaml does not document ` +
        `(documented: ${documented.join(', ')})\nbody: ${show(body)}`,
    );
  }
  checkResponse(`${operation} → ${status}`, `${operation} ${status}`, resolveRef(entry), body, headers);
  const code = errorCode(body);
  return { operation, status, ...(code === undefined ? {} : { code }) };
}

/**
 * The same check for answers that belong to no operation (no route matches, wrong
 * method), documented under `x-fairqueue-gateway-responses`.
 */
export function expectGatewayAnswer(status: number, body: unknown, headers?: HeaderSource): CheckedAnswer {
  const responses = loadSpec()['x-fairqueue-gateway-responses'] ?? {};
  const entry = responses[String(status)];
  if (!entry) {
    throw new Error(
      `the gateway answered ${status}, which x-fairqueue-gateway-responses does not document ` +
        `(documented: ${Object.keys(responses).join(', ')})\nbody: ${show(body)}`,
    );
  }
  checkResponse(`gateway → ${status}`, `gateway ${status}`, resolveRef(entry), body, headers);
  const code = errorCode(body);
  return { operation: 'gateway', status, ...(code === undefined ? {} : { code }) };
}

/**
 * The same check for a refused WebSocket handshake, documented under
 * `x-fairqueue-websocket.handshake`.
 */
export function expectWebSocketRefusal(status: number, body: unknown, headers?: HeaderSource): CheckedAnswer {
  const responses = loadSpec()['x-fairqueue-websocket']?.handshake ?? {};
  const entry = responses[String(status)];
  if (!entry) {
    throw new Error(
      `the WebSocket handshake was refused with ${status}, which x-fairqueue-websocket.handshake does ` +
        `not document (documented: ${Object.keys(responses).join(', ')})\nbody: ${show(body)}`,
    );
  }
  checkResponse(`websocket → ${status}`, `websocket ${status}`, resolveRef(entry), body, headers);
  const code = errorCode(body);
  return { operation: 'websocket', status, ...(code === undefined ? {} : { code }) };
}

/** Throws a readable error unless `message` is a documented server message of the WebSocket. */
export function expectWebSocketMessage(message: unknown): void {
  const schema = loadSpec()['x-fairqueue-websocket']?.serverMessages;
  if (schema === undefined)
    throw new Error('docs/openapi.yaml documents no x-fairqueue-websocket.serverMessages');
  const validate = validatorFor('websocket:serverMessages', schema);
  if (!validate(message)) {
    throw new Error(
      `WebSocket message disagrees with docs/openapi.yaml:\n${describeErrors(validate.errors)}\n` +
        `message: ${show(message)}`,
    );
  }
}

/** Every documented handshake refusal, as `websocket STATUS code`. */
export function documentedWebSocketRefusals(): string[] {
  const out: string[] = [];
  for (const [status, entry] of Object.entries(loadSpec()['x-fairqueue-websocket']?.handshake ?? {})) {
    const codes = codesOf(resolveRef(entry).content?.['application/json']?.schema);
    if (codes.length === 0) out.push(`websocket ${status}`);
    else for (const code of codes) out.push(`websocket ${status} ${code}`);
  }
  return out;
}

/** The error codes a response schema allows (`const`/`enum` of `error.code`), following `$ref`s and `allOf`. */
function codesOf(schema: unknown, seen: Set<string> = new Set()): string[] {
  if (!isObject(schema)) return [];
  if (typeof schema.$ref === 'string') {
    if (seen.has(schema.$ref)) return [];
    return codesOf(resolveRef({ $ref: schema.$ref }), new Set([...seen, schema.$ref]));
  }
  const codes: string[] = [];
  const error = isObject(schema.properties) ? schema.properties.error : undefined;
  const code = isObject(error) && isObject(error.properties) ? error.properties.code : undefined;
  if (isObject(code)) {
    if (typeof code.const === 'string') codes.push(code.const);
    if (Array.isArray(code.enum)) codes.push(...code.enum.filter((c): c is string => typeof c === 'string'));
  }
  for (const part of Array.isArray(schema.allOf) ? schema.allOf : []) codes.push(...codesOf(part, seen));
  return codes;
}

/**
 * Every documented answer as `METHOD /path STATUS` or, for error answers,
 * `METHOD /path STATUS code`, one per error code the response allows.
 */
export function documentedAnswers(): string[] {
  const out: string[] = [];
  for (const operation of specOperations()) {
    const [method = '', path = ''] = operation.split(' ');
    const { op } = operationFor(method, path);
    for (const [status, entry] of Object.entries(op.responses)) {
      const schema = resolveRef(entry).content?.['application/json']?.schema;
      const codes = codesOf(schema);
      if (codes.length === 0) out.push(`${operation} ${status}`);
      else for (const code of codes) out.push(`${operation} ${status} ${code}`);
    }
  }
  return out;
}

/** How a checked answer appears in `documentedAnswers()`. */
export function answerKey(answer: CheckedAnswer): string {
  return answer.code === undefined || answer.status < 400
    ? `${answer.operation} ${answer.status}`
    : `${answer.operation} ${answer.status} ${answer.code}`;
}
