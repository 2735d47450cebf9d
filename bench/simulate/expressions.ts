/**
 * DynamoDB's expression language, parsed generically: condition, key-condition, filter,
 * update and projection expressions. Each distinct expression string is parsed once and
 * cached; `#name` and `:value` placeholders are resolved at evaluation, so one parsed
 * expression serves every request that uses the same text with other names or values
 * (e.g. `ADD #c :one` with `#c` → `c1234`).
 *
 * The rules follow the DynamoDB developer guide (comparison operators and function
 * reference, update expressions). Where DynamoDB answers a ValidationException, this
 * throws ExpressionError and the engine turns it into one.
 */

import { RESERVED_WORDS } from './reserved-words.ts';
import {
  clone,
  compare,
  ExpressionError,
  equal,
  type Item,
  isMap,
  isNumber,
  type TypeCode,
  toNumber,
  typeOf,
  utf8Length,
} from './values.ts';

// ---------------------------------------------------------------------------------------
// Tokens

type Token =
  | { readonly t: 'name'; readonly v: string } // a bare attribute name or keyword
  | { readonly t: 'ref'; readonly v: string } // #name
  | { readonly t: 'val'; readonly v: string } // :value
  | { readonly t: 'num'; readonly v: number } // inside [ ]
  | { readonly t: 'op'; readonly v: string };

const PUNCTUATION = ['<>', '<=', '>=', '=', '<', '>', '(', ')', '[', ']', ',', '.', '+', '-'];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#' || c === ':') {
      const match = /^[#:][A-Za-z0-9_]+/.exec(text.slice(i));
      if (!match) throw new ExpressionError(`Invalid token at "${text.slice(i, i + 10)}"`);
      tokens.push({ t: c === '#' ? 'ref' : 'val', v: match[0] });
      i += match[0].length;
      continue;
    }
    if (/[0-9]/.test(c) && tokens.at(-1)?.v === '[') {
      const match = /^[0-9]+/.exec(text.slice(i));
      tokens.push({ t: 'num', v: Number(match?.[0]) });
      i += match?.[0].length ?? 1;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
      const word = match?.[0] ?? c;
      tokens.push({ t: 'name', v: word });
      i += word.length;
      continue;
    }
    const op = PUNCTUATION.find((p) => text.startsWith(p, i));
    if (!op) throw new ExpressionError(`Syntax error; token: "${c}"`);
    tokens.push({ t: 'op', v: op });
    i += op.length;
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------
// Trees

/** One step of a document path: a name (bare or `#ref`) or a list index. */
export type Step = { readonly name: string; readonly ref: boolean } | { readonly index: number };
export type PathExpr = readonly Step[];

export type Operand =
  | { readonly k: 'path'; readonly path: PathExpr }
  | { readonly k: 'value'; readonly name: string }
  | { readonly k: 'size'; readonly path: PathExpr }
  | { readonly k: 'if_not_exists'; readonly path: PathExpr; readonly fallback: Operand }
  | { readonly k: 'list_append'; readonly a: Operand; readonly b: Operand }
  | { readonly k: 'arith'; readonly op: '+' | '-'; readonly a: Operand; readonly b: Operand };

export type Comparator = '=' | '<>' | '<' | '<=' | '>' | '>=';

export type Condition =
  | { readonly k: 'cmp'; readonly op: Comparator; readonly a: Operand; readonly b: Operand }
  | { readonly k: 'between'; readonly a: Operand; readonly lo: Operand; readonly hi: Operand }
  | { readonly k: 'in'; readonly a: Operand; readonly list: readonly Operand[] }
  | { readonly k: 'exists'; readonly path: PathExpr; readonly not: boolean }
  | { readonly k: 'attribute_type'; readonly path: PathExpr; readonly type: Operand }
  | { readonly k: 'begins_with'; readonly a: Operand; readonly prefix: Operand }
  | { readonly k: 'contains'; readonly a: Operand; readonly b: Operand }
  | { readonly k: 'and' | 'or'; readonly a: Condition; readonly b: Condition }
  | { readonly k: 'not'; readonly a: Condition };

export interface UpdateTree {
  readonly set: readonly { readonly path: PathExpr; readonly value: Operand }[];
  readonly remove: readonly PathExpr[];
  readonly add: readonly { readonly path: PathExpr; readonly value: Operand }[];
  readonly delete: readonly { readonly path: PathExpr; readonly value: Operand }[];
}

const CONDITION_FUNCTIONS = new Set([
  'attribute_exists',
  'attribute_not_exists',
  'attribute_type',
  'begins_with',
  'contains',
]);
const COMPARATORS = new Set(['=', '<>', '<', '<=', '>', '>=']);
const keyword = (token: Token | undefined, word: string) =>
  token?.t === 'name' && token.v.toUpperCase() === word;

class Parser {
  #i = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly text: string,
  ) {}

  get done() {
    return this.#i >= this.tokens.length;
  }
  peek(offset = 0): Token | undefined {
    return this.tokens[this.#i + offset];
  }
  next(): Token {
    const token = this.tokens[this.#i++];
    if (!token) throw new ExpressionError(`Syntax error; unexpected end of expression: "${this.text}"`);
    return token;
  }
  expectOp(op: string) {
    const token = this.next();
    if (token.t !== 'op' || token.v !== op)
      throw new ExpressionError(`Syntax error; expected "${op}", got "${token.v}" in "${this.text}"`);
  }
  isOp(op: string, offset = 0) {
    const token = this.peek(offset);
    return token?.t === 'op' && token.v === op;
  }
  fail(): never {
    const token = this.peek();
    throw new ExpressionError(`Syntax error; token: "${token?.v ?? '<EOF>'}" in "${this.text}"`);
  }

  /** A bare name in a path must not be a reserved word: DynamoDB refuses `total`, `state`, `ttl`. */
  #bare(word: string): Step {
    if (RESERVED_WORDS.has(word.toLowerCase()))
      throw new ExpressionError(`Attribute name is a reserved keyword; reserved keyword: ${word}`);
    return { name: word, ref: false };
  }

  path(): PathExpr {
    const steps: Step[] = [];
    const first = this.next();
    if (first.t === 'ref') steps.push({ name: first.v, ref: true });
    else if (first.t === 'name') steps.push(this.#bare(first.v));
    else this.fail();
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const part = this.next();
        if (part.t === 'ref') steps.push({ name: part.v, ref: true });
        else if (part.t === 'name') steps.push(this.#bare(part.v));
        else this.fail();
      } else if (this.isOp('[')) {
        this.next();
        const index = this.next();
        if (index.t !== 'num') this.fail();
        steps.push({ index: index.v });
        this.expectOp(']');
      } else return steps;
    }
  }

  /** An operand of a condition: a path, a value or size(path). */
  operand(): Operand {
    const token = this.peek();
    if (token?.t === 'val') {
      this.next();
      return { k: 'value', name: token.v };
    }
    if (token?.t === 'name' && token.v === 'size' && this.isOp('(', 1)) {
      this.next();
      this.next();
      const path = this.path();
      this.expectOp(')');
      return { k: 'size', path };
    }
    return { k: 'path', path: this.path() };
  }

  condition(): Condition {
    let left = this.conjunction();
    while (keyword(this.peek(), 'OR')) {
      this.next();
      left = { k: 'or', a: left, b: this.conjunction() };
    }
    return left;
  }

  conjunction(): Condition {
    let left = this.negation();
    while (keyword(this.peek(), 'AND')) {
      this.next();
      left = { k: 'and', a: left, b: this.negation() };
    }
    return left;
  }

  negation(): Condition {
    if (keyword(this.peek(), 'NOT')) {
      this.next();
      return { k: 'not', a: this.negation() };
    }
    return this.primary();
  }

  primary(): Condition {
    if (this.isOp('(')) {
      this.next();
      const inner = this.condition();
      this.expectOp(')');
      return inner;
    }
    const token = this.peek();
    if (token?.t === 'name' && CONDITION_FUNCTIONS.has(token.v) && this.isOp('(', 1)) {
      this.next();
      this.next();
      let condition: Condition;
      if (token.v === 'attribute_exists' || token.v === 'attribute_not_exists') {
        condition = { k: 'exists', path: this.path(), not: token.v === 'attribute_not_exists' };
      } else if (token.v === 'attribute_type') {
        const path = this.path();
        this.expectOp(',');
        condition = { k: 'attribute_type', path, type: this.operand() };
      } else {
        const a = this.operand();
        this.expectOp(',');
        const b = this.operand();
        condition = token.v === 'begins_with' ? { k: 'begins_with', a, prefix: b } : { k: 'contains', a, b };
      }
      this.expectOp(')');
      return condition;
    }
    const a = this.operand();
    const next = this.peek();
    if (next?.t === 'op' && COMPARATORS.has(next.v)) {
      this.next();
      return { k: 'cmp', op: next.v as Comparator, a, b: this.operand() };
    }
    if (keyword(next, 'BETWEEN')) {
      this.next();
      const lo = this.operand();
      if (!keyword(this.peek(), 'AND')) this.fail();
      this.next();
      return { k: 'between', a, lo, hi: this.operand() };
    }
    if (keyword(next, 'IN')) {
      this.next();
      this.expectOp('(');
      const list = [this.operand()];
      while (this.isOp(',')) {
        this.next();
        list.push(this.operand());
      }
      this.expectOp(')');
      if (list.length > 100) throw new ExpressionError('The IN operator takes at most 100 operands');
      return { k: 'in', a, list };
    }
    return this.fail();
  }

  /** The right-hand side of SET: operand [+|- operand]. */
  setValue(): Operand {
    const a = this.setOperand();
    if (this.isOp('+') || this.isOp('-')) {
      const op = this.next().v as '+' | '-';
      return { k: 'arith', op, a, b: this.setOperand() };
    }
    return a;
  }

  setOperand(): Operand {
    const token = this.peek();
    if (token?.t === 'val') {
      this.next();
      return { k: 'value', name: token.v };
    }
    if (token?.t === 'name' && this.isOp('(', 1)) {
      if (token.v === 'if_not_exists') {
        this.next();
        this.next();
        const path = this.path();
        this.expectOp(',');
        const fallback = this.setOperand();
        this.expectOp(')');
        return { k: 'if_not_exists', path, fallback };
      }
      if (token.v === 'list_append') {
        this.next();
        this.next();
        const a = this.setOperand();
        this.expectOp(',');
        const b = this.setOperand();
        this.expectOp(')');
        return { k: 'list_append', a, b };
      }
      throw new ExpressionError(`Invalid function name; function: ${token.v}`);
    }
    return { k: 'path', path: this.path() };
  }

  update(): UpdateTree {
    const tree = { set: [], remove: [], add: [], delete: [] } as {
      set: { path: PathExpr; value: Operand }[];
      remove: PathExpr[];
      add: { path: PathExpr; value: Operand }[];
      delete: { path: PathExpr; value: Operand }[];
    };
    const seen = new Set<string>();
    const clauses = ['SET', 'REMOVE', 'ADD', 'DELETE'];
    const isClause = (token: Token | undefined) => clauses.some((clause) => keyword(token, clause));
    while (!this.done) {
      const clause = this.next();
      const name = clause.t === 'name' ? clause.v.toUpperCase() : '';
      if (!clauses.includes(name)) this.fail();
      if (seen.has(name))
        throw new ExpressionError(`The "${name}" section can only be used once in an update expression`);
      seen.add(name);
      do {
        if (name === 'SET') {
          const path = this.path();
          this.expectOp('=');
          tree.set.push({ path, value: this.setValue() });
        } else if (name === 'REMOVE') {
          tree.remove.push(this.path());
        } else {
          const path = this.path();
          const value = this.operand();
          if (value.k !== 'value') this.fail();
          (name === 'ADD' ? tree.add : tree.delete).push({ path, value });
        }
        if (!this.isOp(',')) break;
        this.next();
      } while (!isClause(this.peek()));
    }
    if (seen.size === 0) throw new ExpressionError('The update expression is empty');
    return tree;
  }

  projection(): PathExpr[] {
    const paths = [this.path()];
    while (this.isOp(',')) {
      this.next();
      paths.push(this.path());
    }
    return paths;
  }
}

// ---------------------------------------------------------------------------------------
// Parsing, cached per text

const conditionCache = new Map<string, Condition>();
const updateCache = new Map<string, UpdateTree>();
const projectionCache = new Map<string, PathExpr[]>();

function cached<T>(cache: Map<string, T>, text: string, parse: (p: Parser) => T): T {
  const hit = cache.get(text);
  if (hit) return hit;
  if (text.trim() === '') throw new ExpressionError('Invalid expression: The expression can not be empty;');
  const parser = new Parser(tokenize(text), text);
  const tree = parse(parser);
  if (!parser.done) parser.fail();
  // Expressions are a small fixed set in practice; the bound only protects against a flood.
  if (cache.size > 10_000) cache.clear();
  cache.set(text, tree);
  return tree;
}

export const parseCondition = (text: string) => cached(conditionCache, text, (p) => p.condition());
export const parseUpdate = (text: string) => cached(updateCache, text, (p) => p.update());
export const parseProjection = (text: string) => cached(projectionCache, text, (p) => p.projection());

// ---------------------------------------------------------------------------------------
// Placeholders

export interface Placeholders {
  readonly names?: Record<string, string> | undefined;
  readonly values?: Record<string, unknown> | undefined;
}

/** Which `#name` and `:value` placeholders a request used: DynamoDB refuses unused ones. */
export class Usage {
  readonly names = new Set<string>();
  readonly values = new Set<string>();

  check(placeholders: Placeholders) {
    const unusedNames = Object.keys(placeholders.names ?? {}).filter((n) => !this.names.has(n));
    if (unusedNames.length > 0)
      throw new ExpressionError(
        `Value provided in ExpressionAttributeNames unused in expressions: keys: {${unusedNames.join(', ')}}`,
      );
    const unusedValues = Object.keys(placeholders.values ?? {}).filter((v) => !this.values.has(v));
    if (unusedValues.length > 0)
      throw new ExpressionError(
        `Value provided in ExpressionAttributeValues unused in expressions: keys: {${unusedValues.join(', ')}}`,
      );
  }
}

function walkOperand(operand: Operand, usage: Usage, p: Placeholders): void {
  switch (operand.k) {
    case 'value':
      if (!p.values || !(operand.name in p.values))
        throw new ExpressionError(
          `An expression attribute value used in expression is not defined; attribute value: ${operand.name}`,
        );
      usage.values.add(operand.name);
      return;
    case 'path':
    case 'size':
      walkPath(operand.path, usage, p);
      return;
    case 'if_not_exists':
      walkPath(operand.path, usage, p);
      walkOperand(operand.fallback, usage, p);
      return;
    default:
      walkOperand(operand.a, usage, p);
      walkOperand(operand.b, usage, p);
  }
}

function walkPath(path: PathExpr, usage: Usage, p: Placeholders) {
  for (const step of path) {
    if (!('name' in step) || !step.ref) continue;
    if (!p.names || !(step.name in p.names))
      throw new ExpressionError(
        `An expression attribute name used in the document path is not defined; attribute name: ${step.name}`,
      );
    usage.names.add(step.name);
  }
}

function walkCondition(condition: Condition, usage: Usage, p: Placeholders): void {
  switch (condition.k) {
    case 'cmp':
      walkOperand(condition.a, usage, p);
      walkOperand(condition.b, usage, p);
      return;
    case 'between':
      walkOperand(condition.a, usage, p);
      walkOperand(condition.lo, usage, p);
      walkOperand(condition.hi, usage, p);
      return;
    case 'in':
      walkOperand(condition.a, usage, p);
      for (const operand of condition.list) walkOperand(operand, usage, p);
      return;
    case 'exists':
      walkPath(condition.path, usage, p);
      return;
    case 'attribute_type':
      walkPath(condition.path, usage, p);
      walkOperand(condition.type, usage, p);
      return;
    case 'begins_with':
      walkOperand(condition.a, usage, p);
      walkOperand(condition.prefix, usage, p);
      return;
    case 'contains':
      walkOperand(condition.a, usage, p);
      walkOperand(condition.b, usage, p);
      return;
    case 'not':
      walkCondition(condition.a, usage, p);
      return;
    default:
      walkCondition(condition.a, usage, p);
      walkCondition(condition.b, usage, p);
  }
}

export function useCondition(condition: Condition, usage: Usage, p: Placeholders) {
  walkCondition(condition, usage, p);
}

export function useUpdate(tree: UpdateTree, usage: Usage, p: Placeholders) {
  for (const { path, value } of [...tree.set, ...tree.add, ...tree.delete]) {
    walkPath(path, usage, p);
    walkOperand(value, usage, p);
  }
  for (const path of tree.remove) walkPath(path, usage, p);
}

export function useProjection(paths: readonly PathExpr[], usage: Usage, p: Placeholders) {
  for (const path of paths) walkPath(path, usage, p);
}

// ---------------------------------------------------------------------------------------
// Evaluation

/** A path with its names resolved: strings for map keys, numbers for list indices. */
export type Resolved = readonly (string | number)[];

export function resolve(path: PathExpr, p: Placeholders): Resolved {
  return path.map((step) => {
    if ('index' in step) return step.index;
    return step.ref ? (p.names?.[step.name] ?? step.name) : step.name;
  });
}

export function getPath(item: Item | undefined, path: Resolved): unknown {
  let current: unknown = item;
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[step];
    } else {
      if (!isMap(current)) return undefined;
      current = current[step];
    }
  }
  return current;
}

function operandValue(operand: Operand, item: Item | undefined, p: Placeholders): unknown {
  switch (operand.k) {
    case 'value':
      return p.values?.[operand.name];
    case 'path':
      return getPath(item, resolve(operand.path, p));
    case 'size': {
      const value = getPath(item, resolve(operand.path, p));
      switch (typeOf(value)) {
        case 'S':
          return utf8Length(value as string);
        case 'B':
          return (value as Uint8Array).byteLength;
        case 'L':
          return (value as unknown[]).length;
        case 'M':
          return Object.keys(value as Item).length;
        case 'SS':
        case 'NS':
        case 'BS':
          return (value as Set<unknown>).size;
        default:
          return undefined;
      }
    }
    case 'if_not_exists': {
      const value = getPath(item, resolve(operand.path, p));
      return value === undefined ? operandValue(operand.fallback, item, p) : value;
    }
    case 'list_append': {
      const a = operandValue(operand.a, item, p);
      const b = operandValue(operand.b, item, p);
      if (!Array.isArray(a) || !Array.isArray(b))
        throw new ExpressionError(
          'Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append',
        );
      return [...a, ...b];
    }
    case 'arith': {
      const a = operandValue(operand.a, item, p);
      const b = operandValue(operand.b, item, p);
      if (a === undefined || b === undefined)
        throw new ExpressionError(
          'The provided expression refers to an attribute that does not exist in the item',
        );
      if (!isNumber(a) || !isNumber(b))
        throw new ExpressionError(
          `Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ${operand.op}`,
        );
      return operand.op === '+' ? toNumber(a) + toNumber(b) : toNumber(a) - toNumber(b);
    }
  }
}

export function evaluate(condition: Condition, item: Item | undefined, p: Placeholders): boolean {
  switch (condition.k) {
    case 'cmp': {
      const a = operandValue(condition.a, item, p);
      const b = operandValue(condition.b, item, p);
      if (condition.op === '=') return equal(a, b);
      // A missing attribute or another type is simply "not equal".
      if (condition.op === '<>') return !equal(a, b);
      const order = compare(a, b);
      if (order === undefined) return false;
      switch (condition.op) {
        case '<':
          return order < 0;
        case '<=':
          return order <= 0;
        case '>':
          return order > 0;
        default:
          return order >= 0;
      }
    }
    case 'between': {
      const a = operandValue(condition.a, item, p);
      const lo = compare(a, operandValue(condition.lo, item, p));
      const hi = compare(a, operandValue(condition.hi, item, p));
      return lo !== undefined && hi !== undefined && lo >= 0 && hi <= 0;
    }
    case 'in': {
      const a = operandValue(condition.a, item, p);
      return condition.list.some((operand) => equal(a, operandValue(operand, item, p)));
    }
    case 'exists': {
      const present = getPath(item, resolve(condition.path, p)) !== undefined;
      return condition.not ? !present : present;
    }
    case 'attribute_type': {
      const type = operandValue(condition.type, item, p);
      return typeOf(getPath(item, resolve(condition.path, p))) === (type as TypeCode);
    }
    case 'begins_with': {
      const a = operandValue(condition.a, item, p);
      const prefix = operandValue(condition.prefix, item, p);
      if (typeof a === 'string' && typeof prefix === 'string') return a.startsWith(prefix);
      if (a instanceof Uint8Array && prefix instanceof Uint8Array)
        return prefix.every((byte, i) => a[i] === byte);
      return false;
    }
    case 'contains': {
      const a = operandValue(condition.a, item, p);
      const b = operandValue(condition.b, item, p);
      if (typeof a === 'string') return typeof b === 'string' && a.includes(b);
      if (a instanceof Set) return [...a].some((element) => equal(element, b));
      if (Array.isArray(a)) return a.some((element) => equal(element, b));
      return false;
    }
    case 'and':
      return evaluate(condition.a, item, p) && evaluate(condition.b, item, p);
    case 'or':
      return evaluate(condition.a, item, p) || evaluate(condition.b, item, p);
    case 'not':
      return !evaluate(condition.a, item, p);
  }
}

const overlaps = (a: Resolved, b: Resolved) =>
  a.slice(0, Math.min(a.length, b.length)).every((step, i) => step === b[i]);

const invalidPath = () =>
  new ExpressionError('The document path provided in the update expression is invalid for update');

/** Writes `value` at `path` in `item`, creating nothing but the last step (as DynamoDB). */
function setAt(item: Item, path: Resolved, value: unknown) {
  let parent: unknown = item;
  for (const step of path.slice(0, -1)) {
    parent =
      typeof step === 'number'
        ? Array.isArray(parent)
          ? parent[step]
          : undefined
        : isMap(parent)
          ? parent[step]
          : undefined;
    if (parent === undefined) throw invalidPath();
  }
  const last = path[path.length - 1];
  if (typeof last === 'number') {
    if (!Array.isArray(parent)) throw invalidPath();
    // An index past the end appends.
    if (last >= parent.length) parent.push(value);
    else parent[last] = value;
  } else {
    if (!isMap(parent) || last === undefined) throw invalidPath();
    parent[last] = value;
  }
}

function removeAt(item: Item, path: Resolved) {
  const parent = getPath(item, path.slice(0, -1));
  const last = path[path.length - 1];
  if (typeof last === 'number') {
    if (Array.isArray(parent) && last < parent.length) parent.splice(last, 1);
  } else if (isMap(parent) && last !== undefined) {
    delete parent[last];
  }
}

export interface UpdateOutcome {
  readonly item: Item;
  /** Top-level-first paths the update touched, for ReturnValues UPDATED_OLD / UPDATED_NEW. */
  readonly paths: readonly Resolved[];
}

/**
 * Applies an update to a copy of `old` (or to a new item holding only `key`). Every
 * right-hand side is evaluated against the item as it was, as DynamoDB does.
 */
export function applyUpdate(
  tree: UpdateTree,
  old: Item | undefined,
  key: Item,
  p: Placeholders,
  keyNames: readonly string[],
): UpdateOutcome {
  const actions: { path: Resolved; run: (item: Item) => void; removal: boolean }[] = [];
  const touch = (path: Resolved, run: (item: Item) => void, removal = false) => {
    if (path.length === 1 && typeof path[0] === 'string' && keyNames.includes(path[0]))
      throw new ExpressionError(`Cannot update attribute ${path[0]}. This attribute is part of the key`);
    for (const other of actions)
      if (overlaps(other.path, path))
        throw new ExpressionError(
          `Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [${other.path.join(', ')}], path two: [${path.join(', ')}]`,
        );
    actions.push({ path, run, removal });
  };
  for (const { path, value } of tree.set) {
    const computed = clone(operandValue(value, old, p));
    if (computed === undefined)
      throw new ExpressionError(
        'The provided expression refers to an attribute that does not exist in the item',
      );
    const at = resolve(path, p);
    touch(at, (item) => setAt(item, at, computed));
  }
  for (const path of tree.remove) {
    const at = resolve(path, p);
    touch(at, (item) => removeAt(item, at), true);
  }
  for (const { path, value } of tree.add) {
    const at = resolve(path, p);
    const operand = operandValue(value, old, p);
    const current = getPath(old, at);
    const type = typeOf(operand);
    let next: unknown;
    if (type === 'N') {
      if (current !== undefined && !isNumber(current))
        throw new ExpressionError('An operand in the update expression has an incorrect data type');
      next = (current === undefined ? 0 : toNumber(current)) + toNumber(operand);
    } else if (type === 'SS' || type === 'NS' || type === 'BS') {
      if (current !== undefined && typeOf(current) !== type)
        throw new ExpressionError('An operand in the update expression has an incorrect data type');
      next = new Set([...((current as Set<unknown> | undefined) ?? []), ...(operand as Set<unknown>)]);
    } else {
      throw new ExpressionError(
        'Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD',
      );
    }
    touch(at, (item) => setAt(item, at, next));
  }
  for (const { path, value } of tree.delete) {
    const at = resolve(path, p);
    const operand = operandValue(value, old, p);
    const type = typeOf(operand);
    if (type !== 'SS' && type !== 'NS' && type !== 'BS')
      throw new ExpressionError(
        'Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE',
      );
    const current = getPath(old, at);
    if (current !== undefined && typeOf(current) !== type)
      throw new ExpressionError('An operand in the update expression has an incorrect data type');
    touch(at, (item) => {
      if (current === undefined) return;
      const remaining = [...(current as Set<unknown>)].filter(
        (element) => ![...(operand as Set<unknown>)].some((other) => equal(element, other)),
      );
      if (remaining.length === 0) removeAt(item, at);
      else setAt(item, at, new Set(remaining));
    });
  }
  const item = old ? clone(old) : clone(key);
  // Removals run last, list elements from the highest index down: every index in the
  // expression names an element of the list as it was.
  const byIndexDown = (a: Resolved, b: Resolved) => Number(b.at(-1) ?? 0) - Number(a.at(-1) ?? 0);
  for (const action of actions) if (!action.removal) action.run(item);
  const removals = actions.filter((a) => a.removal).map((a) => a.path);
  for (const path of removals.sort(byIndexDown)) removeAt(item, path);
  return { item, paths: actions.map((a) => a.path) };
}

/** The parts of `item` named by `paths` (a projection, or the UPDATED_* return values). */
export function project(item: Item | undefined, paths: readonly Resolved[]): Item | undefined {
  if (!item) return undefined;
  const out: Item = {};
  for (const path of paths) {
    const value = getPath(item, path);
    if (value === undefined) continue;
    // Nested paths keep their shape: a.b[1] projects to { a: { b: [value] } }.
    let target: Record<string, unknown> | unknown[] = out;
    for (let i = 0; i < path.length - 1; i++) {
      const step = path[i];
      const nextIsIndex = typeof path[i + 1] === 'number';
      if (Array.isArray(target)) {
        const existing = target.at(-1);
        const created = nextIsIndex ? [] : {};
        target.push(existing ?? created);
        target = (existing ?? created) as Record<string, unknown> | unknown[];
      } else if (typeof step === 'string') {
        target[step] ??= nextIsIndex ? [] : {};
        target = target[step] as Record<string, unknown> | unknown[];
      }
    }
    const last = path[path.length - 1];
    if (Array.isArray(target)) target.push(clone(value));
    else if (typeof last === 'string') target[last] = clone(value);
  }
  return out;
}
