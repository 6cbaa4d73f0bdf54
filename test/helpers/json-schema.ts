// SPDX-License-Identifier: LGPL-2.1-or-later
// A validator for the JSON Schema subset the documents in docs/*.schema.json use, so the tests
// can hold real output to the published schemas without another dependency. Unknown keywords
// are an error: a schema must not silently claim more than is checked.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './bundle.js';

type Schema = Readonly<Record<string, unknown>>;

const KNOWN = new Set([
  '$schema',
  '$id',
  '$defs',
  '$ref',
  'title',
  'description',
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'const',
  'pattern',
  'minimum',
  'maximum',
  'minLength',
]);

/** Loads docs/<name>. */
export function loadSchema(name: string): Schema {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'docs', name), 'utf8')) as Schema;
}

/** Every violation, as "<json pointer>: <problem>"; empty when `value` is valid. */
export function validate(schema: Schema, value: unknown): string[] {
  const errors: string[] = [];
  check(schema, schema, value, '', errors);
  return errors;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function check(root: Schema, schema: Schema, value: unknown, at: string, errors: string[]): void {
  for (const key of Object.keys(schema)) {
    if (!KNOWN.has(key)) errors.push(`${at}: schema keyword "${key}" is not supported by the test validator`);
  }
  const ref = schema['$ref'];
  if (typeof ref === 'string') {
    const target = ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, part) => (node as Schema)[part], root);
    if (target === undefined) errors.push(`${at}: unresolved $ref ${ref}`);
    else check(root, target as Schema, value, at, errors);
  }
  const type = schema['type'];
  if (typeof type === 'string') {
    const actual = typeOf(value);
    if (actual !== type && !(type === 'number' && actual === 'integer')) {
      errors.push(`${at}: expected ${type}, got ${actual}`);
      return;
    }
  }
  if ('const' in schema && JSON.stringify(schema['const']) !== JSON.stringify(value))
    errors.push(`${at}: expected ${JSON.stringify(schema['const'])}`);
  const choices = schema['enum'];
  if (Array.isArray(choices) && !choices.some((choice) => JSON.stringify(choice) === JSON.stringify(value))) {
    errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(choices)}`);
  }
  if (typeof value === 'string') {
    if (typeof schema['pattern'] === 'string' && !new RegExp(schema['pattern']).test(value))
      errors.push(`${at}: "${value}" does not match ${schema['pattern']}`);
    if (typeof schema['minLength'] === 'number' && value.length < schema['minLength'])
      errors.push(`${at}: shorter than ${schema['minLength']}`);
  }
  if (typeof value === 'number') {
    if (typeof schema['minimum'] === 'number' && value < schema['minimum']) errors.push(`${at}: below ${schema['minimum']}`);
    if (typeof schema['maximum'] === 'number' && value > schema['maximum']) errors.push(`${at}: above ${schema['maximum']}`);
  }
  if (Array.isArray(value) && schema['items'] !== undefined) {
    value.forEach((item, i) => check(root, schema['items'] as Schema, item, `${at}/${i}`, errors));
  }
  if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    const properties = (schema['properties'] ?? {}) as Record<string, Schema>;
    for (const name of (schema['required'] ?? []) as string[]) {
      if (!(name in object)) errors.push(`${at}: missing required "${name}"`);
    }
    for (const [name, item] of Object.entries(object)) {
      const property = properties[name];
      if (property !== undefined) check(root, property, item, `${at}/${name}`, errors);
      else if (schema['additionalProperties'] === false) errors.push(`${at}: unexpected property "${name}"`);
    }
  }
}
