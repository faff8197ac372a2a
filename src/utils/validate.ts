/**
 * Option validation helpers. Every check names the option and the allowed range,
 * so a bad configuration fails at construction with a message a user can act on.
 * @internal
 */

/** Throws unless `value` is undefined or a number in `[min, max]` (an integer when `integer`). */
export function checkNumber(name: string, value: unknown, min: number, max: number, opts: { integer?: boolean; unit?: string } = {}): void {
  if (value === undefined) return;
  const what = `${opts.integer ? 'an integer' : 'a number'}${opts.unit ? ` of ${opts.unit}` : ''} from ${min} to ${max === Infinity ? 'Infinity' : max}`;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`ridethrough: option "${name}" must be ${what}, got ${describe(value)}`);
  }
  if (value < min || value > max || (opts.integer && !Number.isInteger(value) && value !== Infinity)) {
    throw new RangeError(`ridethrough: option "${name}" must be ${what}, got ${value}`);
  }
}

/** Throws unless `value` is undefined or one of `allowed`. */
export function checkOneOf<T>(name: string, value: unknown, allowed: readonly T[]): void {
  if (value === undefined) return;
  if (!allowed.includes(value as T)) {
    // A value of another type than every allowed one is a type error; an unlisted value of the right type a range error.
    const ErrorClass = allowed.some((a) => typeof a === typeof value) ? RangeError : TypeError;
    throw new ErrorClass(`ridethrough: option "${name}" must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(value)}`);
  }
}

/** Throws unless `value` is undefined or a boolean. */
export function checkBoolean(name: string, value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  throw new TypeError(`ridethrough: option "${name}" must be a boolean, got ${describe(value)}`);
}

/** Throws unless `value` is undefined or a plain object. */
export function checkObject(name: string, value: unknown): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`ridethrough: option "${name}" must be an object, got ${describe(value)}`);
  }
}

/** Throws unless `value` is undefined or an array whose items pass `item`. */
export function checkArray(name: string, value: unknown, item: (v: unknown) => boolean, itemWhat: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || !value.every(item)) {
    throw new TypeError(`ridethrough: option "${name}" must be an array of ${itemWhat}, got ${describe(value)}`);
  }
}

/** Throws if `value` has keys not in `known`, naming the first unknown one (catches typos). */
export function checkKnownKeys(name: string, value: object | undefined, known: readonly string[]): void {
  if (!value) return;
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TypeError(`ridethrough: unknown option "${name ? `${name}.` : ''}${key}"; known options are ${known.join(', ')}`);
    }
  }
}

/** How a bad value is shown in an error message. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array (${JSON.stringify(value).slice(0, 60)})`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
