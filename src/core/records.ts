// Objects keyed by names that come from outside (column names, config names): a survey may
// name a column `__proto__`, `constructor` or `toString`, and such a name must behave like any
// other. Plain `{}` objects do not: assigning `__proto__` replaces the prototype (the column
// disappears), and looking up an absent `constructor` finds Object's. These objects have no
// prototype, so every key is an ordinary own property.

/** An empty object without a prototype, for name-keyed maps (column batches, name maps). */
export function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** A copy of `entries` as a prototype-less record (Object.fromEntries for external names). */
export function recordFrom<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const out = emptyRecord<T>();
  for (const [k, v] of entries) out[k] = v;
  return out;
}

/** A shallow copy of `source`'s own properties into a prototype-less record. */
export function recordOf<T>(source: Readonly<Record<string, T>>): Record<string, T> {
  return recordFrom(Object.entries(source));
}

/** The own property `key` of a record, or undefined (never an inherited one). */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
