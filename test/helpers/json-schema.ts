// SPDX-License-Identifier: LGPL-2.1-or-later
// Holds real output to the published schemas in docs/*.schema.json with Ajv (draft 2020-12),
// in strict mode: a keyword Ajv does not know is an error, so a schema cannot claim more than is
// checked. Each schema is compiled once per test file, by its $id.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { REPO_ROOT } from './bundle.js';

type Schema = Readonly<Record<string, unknown>>;

const ajv = new Ajv2020({ strict: true, allErrors: true });

/** Loads docs/<name>. */
export function loadSchema(name: string): Schema {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'docs', name), 'utf8')) as Schema;
}

/** Every violation, as "<json pointer>: <problem>"; empty when `value` is valid. */
export function validate(schema: Schema, value: unknown): string[] {
  const check = compiled(schema);
  if (check(value)) return [];
  return (check.errors ?? []).map((error) => `${error.instancePath}: ${error.message ?? error.keyword} ${JSON.stringify(error.params)}`);
}

/** The schema compiled once per $id (every published schema has one). */
function compiled(schema: Schema): ValidateFunction {
  const id = schema['$id'];
  if (typeof id !== 'string') throw new Error('a published schema needs an $id');
  const known = ajv.getSchema(id);
  if (known !== undefined) return known;
  ajv.addSchema(schema);
  const added = ajv.getSchema(id);
  if (added === undefined) throw new Error(`schema ${id} did not compile`);
  return added;
}
