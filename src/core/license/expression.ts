import { createRequire } from 'node:module';
import type { Info, LicenseInfo } from 'spdx-expression-parse';
import { hubLicense } from './catalog.js';

const require = createRequire(import.meta.url);
const parseSpdx = require('spdx-expression-parse') as (expression: string) => Info;

export type LicenseTree = Info;

/** A licence as an SPDX expression, its parse tree and the ids it names, in order of appearance. */
export interface LicenseExpression {
  expression: string;
  tree: LicenseTree;
  ids: string[];
}

/** Parses an SPDX expression with the SPDX library; undefined when it is not one. */
export function parseExpression(text: string): LicenseExpression | undefined {
  let tree: Info;
  try {
    tree = parseSpdx(text.trim());
  } catch {
    return undefined;
  }
  return { expression: formatTree(tree, true), tree, ids: [...new Set(leaves(tree).map((l) => l.license))] };
}

/**
 * A declared licence as written in a card or an artifact: a Hub id (`llama3.1`, `apache-2.0`) or an
 * SPDX expression (`Apache-2.0 OR MIT`). Hub ids win: `mit` is the Hub's MIT, not an invalid SPDX id.
 */
export function normalizeDeclared(value: string): LicenseExpression | undefined {
  const hub = hubLicense(value);
  if (hub) return parseExpression(hub.id);
  const direct = parseExpression(value);
  if (direct) return direct;
  // Hub ids inside an expression: `apache-2.0 OR mit`.
  const rewritten = value.replace(/[^\s()]+/g, (word) =>
    /^(and|or|with)$/i.test(word) ? word.toUpperCase() : (hubLicense(word)?.id ?? word),
  );
  return rewritten === value ? undefined : parseExpression(rewritten);
}

export function leaves(tree: LicenseTree): LicenseInfo[] {
  return 'license' in tree ? [tree] : [...leaves(tree.left), ...leaves(tree.right)];
}

function formatTree(tree: LicenseTree, top: boolean): string {
  if ('license' in tree) {
    return `${tree.license}${tree.plus ? '+' : ''}${tree.exception ? ` WITH ${tree.exception}` : ''}`;
  }
  const text = `${formatTree(tree.left, false)} ${tree.conjunction.toUpperCase()} ${formatTree(tree.right, false)}`;
  return top ? text : `(${text})`;
}
