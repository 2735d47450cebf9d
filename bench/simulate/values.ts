/**
 * DynamoDB values as the document client hands them over (native JS: strings, numbers,
 * booleans, null, Uint8Array, arrays, plain objects, Sets): their types, sizes,
 * equality and order, as DynamoDB defines them.
 */

export type Value = unknown;
export type Item = Record<string, unknown>;

export type TypeCode = 'S' | 'N' | 'B' | 'BOOL' | 'NULL' | 'L' | 'M' | 'SS' | 'NS' | 'BS';

/** A validation error as DynamoDB answers it: the simulator throws it as a `ValidationException`. */
export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
}

export function isMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function typeOf(value: unknown): TypeCode | undefined {
  switch (typeof value) {
    case 'string':
      return 'S';
    case 'number':
    case 'bigint':
      return 'N';
    case 'boolean':
      return 'BOOL';
    case 'undefined':
      return undefined;
  }
  if (value === null) return 'NULL';
  if (value instanceof Uint8Array) return 'B';
  if (Array.isArray(value)) return 'L';
  if (value instanceof Set) {
    const first: unknown = value.values().next().value;
    if (typeof first === 'number' || typeof first === 'bigint') return 'NS';
    if (first instanceof Uint8Array) return 'BS';
    return 'SS';
  }
  if (isMap(value)) return 'M';
  // NumberValue (lib-dynamodb's big-number wrapper) and anything else with a numeric string.
  if (typeof value === 'object' && 'value' in value && typeof value.value === 'string') return 'N';
  return undefined;
}

const isAscii = (s: string) => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
};

/** UTF-8 length without allocating for the common ASCII case. */
export function utf8Length(s: string): number {
  return isAscii(s) ? s.length : Buffer.byteLength(s, 'utf8');
}

/** DynamoDB stores numbers as up to 38 significant digits: roughly one byte per two digits, plus one. */
function numberSize(n: unknown): number {
  const digits = String(n).replace(/^-/, '').replace('.', '').replace(/e.*$/i, '').replace(/^0+/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** Bytes a value takes in an item (DynamoDB's item-size rules). */
export function valueSize(value: unknown): number {
  switch (typeOf(value)) {
    case 'S':
      return utf8Length(value as string);
    case 'N':
      return numberSize(value);
    case 'B':
      return (value as Uint8Array).byteLength;
    case 'BOOL':
    case 'NULL':
      return 1;
    case 'L': {
      let size = 3;
      for (const element of value as unknown[]) size += valueSize(element) + 1;
      return size;
    }
    case 'M': {
      let size = 3;
      for (const [name, element] of Object.entries(value as Item)) {
        if (element === undefined) continue;
        size += utf8Length(name) + valueSize(element) + 1;
      }
      return size;
    }
    case 'SS':
    case 'NS':
    case 'BS': {
      let size = 0;
      for (const element of value as Set<unknown>) size += valueSize(element);
      return size;
    }
    default:
      return 0;
  }
}

/** Size of a whole item: attribute names plus values. */
export function itemSize(item: Item): number {
  let size = 0;
  for (const name in item) {
    const value = item[name];
    if (value === undefined) continue;
    size += utf8Length(name) + valueSize(value);
  }
  return size;
}

/**
 * A deep copy, dropping `undefined` as the adapter's document client does
 * (`removeUndefinedValues`): nothing the caller keeps can alias what is stored.
 */
export function clone<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const element of value) if (element !== undefined) out.push(clone(element));
    return out as T;
  }
  if (value instanceof Set) return new Set(value) as T;
  if (value instanceof Uint8Array) return new Uint8Array(value) as T;
  if (!isMap(value)) return value;
  const out: Item = {};
  for (const key in value) {
    const element = (value as Item)[key];
    if (element !== undefined) out[key] = clone(element);
  }
  return out as T;
}

function numeric(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'object' && value !== null && 'value' in value) return Number(value.value);
  return Number.NaN;
}

/** Byte order of UTF-8, which is what DynamoDB sorts strings by (not UTF-16 code units). */
export function compareStrings(a: string, b: string): number {
  if (isAscii(a) && isAscii(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b));
}

/** Order of two values of one scalar type (S, N, B); undefined when they cannot be ordered. */
export function compare(a: unknown, b: unknown): number | undefined {
  const ta = typeOf(a);
  if (ta === undefined || ta !== typeOf(b)) return undefined;
  if (ta === 'N') {
    const x = numeric(a);
    const y = numeric(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (ta === 'S') return compareStrings(a as string, b as string);
  if (ta === 'B') return compareBytes(a as Uint8Array, b as Uint8Array);
  return undefined;
}

export function equal(a: unknown, b: unknown): boolean {
  const ta = typeOf(a);
  if (ta === undefined || ta !== typeOf(b)) return false;
  switch (ta) {
    case 'S':
    case 'BOOL':
      return a === b;
    case 'NULL':
      return true;
    case 'N':
      return numeric(a) === numeric(b);
    case 'B':
      return compareBytes(a as Uint8Array, b as Uint8Array) === 0;
    case 'L': {
      const x = a as unknown[];
      const y = b as unknown[];
      return x.length === y.length && x.every((element, i) => equal(element, y[i]));
    }
    case 'M': {
      const x = Object.entries(a as Item).filter(([, v]) => v !== undefined);
      const y = b as Item;
      return (
        x.length === Object.values(y).filter((v) => v !== undefined).length &&
        x.every(([key, value]) => equal(value, y[key]))
      );
    }
    default: {
      const x = a as Set<unknown>;
      const y = b as Set<unknown>;
      if (x.size !== y.size) return false;
      for (const element of x) if (![...y].some((other) => equal(element, other))) return false;
      return true;
    }
  }
}

export function isNumber(value: unknown): boolean {
  return typeOf(value) === 'N';
}

export function toNumber(value: unknown): number {
  return numeric(value);
}

/** The low-level wire form (`{S: …}`, `{N: …}`): what the SDK puts in an exception's `Item`. */
export function marshall(item: Item): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) {
    const wire = marshallValue(value);
    if (wire !== undefined) out[key] = wire;
  }
  return out;
}

function marshallValue(value: unknown): unknown {
  switch (typeOf(value)) {
    case 'S':
      return { S: value };
    case 'N':
      return {
        N: String(typeof value === 'object' && value !== null && 'value' in value ? value.value : value),
      };
    case 'B':
      return { B: value };
    case 'BOOL':
      return { BOOL: value };
    case 'NULL':
      return { NULL: true };
    case 'L':
      return { L: (value as unknown[]).map(marshallValue).filter((v) => v !== undefined) };
    case 'M':
      return { M: marshall(value as Item) };
    case 'SS':
      return { SS: [...(value as Set<string>)] };
    case 'NS':
      return { NS: [...(value as Set<number>)].map(String) };
    case 'BS':
      return { BS: [...(value as Set<Uint8Array>)] };
    default:
      return undefined;
  }
}

/** The wire form back to native values (for the low-level commands the engine accepts). */
export function unmarshall(wire: Record<string, unknown>): Item {
  const out: Item = {};
  for (const [key, value] of Object.entries(wire)) out[key] = unmarshallValue(value);
  return out;
}

function unmarshallValue(wire: unknown): unknown {
  if (typeof wire !== 'object' || wire === null) return undefined;
  const [[type, value] = []] = Object.entries(wire);
  switch (type) {
    case 'S':
    case 'B':
    case 'BOOL':
      return value;
    case 'N':
      return Number(value);
    case 'NULL':
      return null;
    case 'L':
      return (value as unknown[]).map(unmarshallValue);
    case 'M':
      return unmarshall(value as Record<string, unknown>);
    case 'SS':
    case 'BS':
      return new Set(value as unknown[]);
    case 'NS':
      return new Set((value as string[]).map(Number));
    default:
      return undefined;
  }
}
