/**
 * Options defined once: each option's rule holds its check (type and range), its default and the line
 * the configuration docs give it. Validation, resolved defaults and the docs tables
 * (`npm run docs:options`) all come from these tables, which sit next to the concept they configure.
 * @internal
 */
import { checkArray, checkBoolean, checkKnownKeys, checkNumber, checkObject, checkOneOf, describe } from './validate.js';

/** One option: how it is checked, its default, and how the docs show it. @internal */
export interface OptionRule {
  /** Throws a `TypeError`/`RangeError` naming `path` unless `value` is allowed (undefined always is). */
  readonly check: (path: string, value: unknown) => void;
  /** Turns an allowed value into the resolved one (rounding, copying). Default: the value itself. */
  readonly normalize?: (value: unknown) => unknown;
  /** The resolved value when the option is not given (`undefined`: none). */
  readonly default: unknown;
  /** The default as the docs show it. */
  readonly defaultText: string;
  /** The allowed values as the docs show them. */
  readonly rangeText: string;
  /** What the option does and when to change it: the docs table's last column. */
  readonly doc: string;
  /** For an object option: the rules of its fields (resolved with their own defaults). */
  readonly group?: OptionGroup<object>;
  /** For an object option that can be `false` (the feature off). */
  readonly canBeOff?: boolean;
  /** For an object option, whether it is on (resolved with defaults) when not given. */
  readonly onByDefault?: boolean;
}

/** The rules of an options object: one per key (the compiler checks that every key has one). @internal */
export type OptionTable<T> = { readonly [K in keyof Required<T>]: OptionRule };

/** An options object's rules, plus checks that span several of its fields. @internal */
export interface OptionGroup<T> {
  readonly table: OptionTable<T>;
  /** Checks between resolved fields (`maxDelay` at least `initialDelay`, ...); throws naming the option. */
  readonly relations?: (resolved: Required<T>, path: (key: string) => string) => void;
  /** Defaults that depend on a given field (a sampling breaker's threshold is a ratio). */
  readonly dependentDefaults?: (given: Partial<T>) => Partial<T>;
}

/** Joins a group's path and a key: `backoff` + `jitter` → `backoff.jitter`. */
export function joinPath(prefix: string, key: string): string {
  return prefix ? `${prefix}.${key}` : key;
}

/**
 * Validates `value` against a group's rules and returns it with every default filled in (nested groups
 * too). Unknown keys are rejected, naming the first one.
 * @internal
 */
export function resolveGroup<T extends object, R = Required<T>>(group: OptionGroup<T>, value: T | undefined, prefix = ''): R {
  checkObject(prefix || 'options', value);
  const table = group.table as Record<string, OptionRule>;
  checkKnownKeys(prefix, value, Object.keys(table));
  const given = (value ?? {}) as Record<string, unknown>;
  const extra = (group.dependentDefaults?.(given as Partial<T>) ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(table)) {
    const path = joinPath(prefix, key);
    out[key] = resolveRule(table[key]!, given[key], path, extra[key]);
  }
  group.relations?.(out as Required<T>, (key) => joinPath(prefix, key));
  return out as R;
}

/** Validates one option and returns its resolved value. */
function resolveRule(rule: OptionRule, value: unknown, path: string, dependentDefault: unknown): unknown {
  if (rule.group) {
    if (value === false) {
      if (rule.canBeOff) return false;
      throw new TypeError(`ridethrough: option "${path}" must be an object, got boolean false`);
    }
    if (value === undefined && !rule.onByDefault) return rule.canBeOff ? false : undefined;
    if (rule.canBeOff && value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw new TypeError(`ridethrough: option "${path}" must be an object or false, got ${describe(value)}`);
    }
    return resolveGroup(rule.group, value as object | undefined, path);
  }
  rule.check(path, value);
  if (value === undefined) return dependentDefault ?? rule.default;
  return rule.normalize ? rule.normalize(value) : value;
}

/** Validates only the options given (no defaults): per-request overrides. @internal */
export function checkGroup<T extends object>(group: OptionGroup<T>, value: T | undefined, prefix: string): void {
  if (value === undefined) return;
  checkObject(prefix, value);
  const table = group.table as Record<string, OptionRule>;
  checkKnownKeys(prefix, value, Object.keys(table));
  for (const [key, v] of Object.entries(value)) {
    const rule = table[key]!;
    const path = joinPath(prefix, key);
    if (rule.group) {
      if (v === false && rule.canBeOff) continue;
      if (rule.canBeOff && v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v))) {
        throw new TypeError(`ridethrough: option "${path}" must be an object or false, got ${describe(v)}`);
      }
      checkGroup(rule.group, v as object, path);
    } else {
      rule.check(path, v);
    }
  }
}

/** Options of the rule makers: the docs' default text when it is not the value itself. */
interface Texts {
  readonly defaultText?: string;
  readonly rangeText?: string;
}

const fmt = (n: number): string => (n === Infinity ? 'Infinity' : String(n));

/** A duration in milliseconds from `min` to `max`. `round`: fractions are rounded (for APIs that take integers). @internal */
export function millis(min: number, max: number, dflt: number | undefined, doc: string, o: Texts & { round?: boolean; integer?: boolean } = {}): OptionRule {
  return {
    check: (path, v) => checkNumber(path, v, min, max, { unit: 'milliseconds', integer: o.integer }),
    normalize: o.round ? (v) => Math.round(v as number) : undefined,
    default: dflt,
    defaultText: o.defaultText ?? (dflt === undefined ? 'none' : fmt(dflt)),
    rangeText: o.rangeText ?? `${o.integer ? 'integer ' : ''}${fmt(min)}–${fmt(max)}`,
    doc,
  };
}

/** A number (a count, ratio or multiple; `unit`: of seconds, ...) from `min` to `max`. @internal */
export function num(min: number, max: number, dflt: number | undefined, doc: string, o: Texts & { integer?: boolean; unit?: string } = {}): OptionRule {
  return {
    check: (path, v) => checkNumber(path, v, min, max, { integer: o.integer, unit: o.unit }),
    default: dflt,
    defaultText: o.defaultText ?? (dflt === undefined ? 'none' : fmt(dflt)),
    rangeText: o.rangeText ?? `${o.integer ? 'integer ' : ''}${fmt(min)}–${fmt(max)}`,
    doc,
  };
}

/** One of a few values. @internal */
export function oneOf<V extends string | number>(values: readonly V[], dflt: V | undefined, doc: string, o: Texts = {}): OptionRule {
  const show = (v: V): string => (typeof v === 'string' ? `\`'${v}'\`` : String(v));
  return {
    check: (path, v) => checkOneOf(path, v, values),
    default: dflt,
    defaultText: o.defaultText ?? (dflt === undefined ? 'none' : show(dflt)),
    rangeText: o.rangeText ?? values.map(show).join(', '),
    doc,
  };
}

/** A boolean. @internal */
export function bool(dflt: boolean | undefined, doc: string, o: Texts = {}): OptionRule {
  return {
    check: checkBoolean,
    default: dflt,
    defaultText: o.defaultText ?? (dflt === undefined ? 'none' : `\`${dflt}\``),
    rangeText: o.rangeText ?? '`true`, `false`',
    doc,
  };
}

/** An array whose items pass `item`. @internal */
export function list(item: (v: unknown) => boolean, itemWhat: string, dflt: readonly unknown[] | undefined, doc: string, o: Texts = {}): OptionRule {
  return {
    check: (path, v) => checkArray(path, v, item, itemWhat),
    normalize: (v) => [...(v as unknown[])],
    default: dflt,
    defaultText: o.defaultText ?? (dflt === undefined ? 'none' : `\`${JSON.stringify(dflt)}\``),
    rangeText: o.rangeText ?? itemWhat,
    doc,
  };
}

/** Any other option, with its own check. @internal */
export function custom(check: (path: string, value: unknown) => void, dflt: unknown, doc: string, texts: Required<Texts>): OptionRule {
  return { check, default: dflt, doc, ...texts };
}

/** An object option with rules of its own; `off`: it may be `false`; `on`: resolved with defaults when not given. @internal */
export function group<T extends object>(g: OptionGroup<T>, doc: string, o: Texts & { off?: boolean; on?: boolean } = {}): OptionRule {
  return {
    check: () => undefined,
    default: undefined,
    defaultText: o.defaultText ?? (o.on ? 'on' : o.off ? '`false`' : 'none'),
    rangeText: o.rangeText ?? (o.off ? 'object or `false`' : 'object'),
    doc,
    group: g as OptionGroup<object>,
    canBeOff: o.off,
    onByDefault: o.on,
  };
}

/** A row of the configuration docs: path, default, range, doc. @internal */
export interface OptionRow {
  readonly path: string;
  readonly defaultText: string;
  readonly rangeText: string;
  readonly doc: string;
}

/** The docs rows of a group, nested groups flattened after their own row. @internal */
export function rowsOf(g: OptionGroup<object>, prefix = ''): OptionRow[] {
  const rows: OptionRow[] = [];
  for (const [key, rule] of Object.entries(g.table as Record<string, OptionRule>)) {
    const path = joinPath(prefix, key);
    rows.push({ path, defaultText: rule.defaultText, rangeText: rule.rangeText, doc: rule.doc });
    if (rule.group) rows.push(...rowsOf(rule.group, path));
  }
  return rows;
}
