import { createRequire } from 'node:module';
import type { ReferenceText } from './text-match.js';

const require = createRequire(import.meta.url);

/**
 * The SPDX licence texts (spdx-license-list, CC0-1.0), without deprecated ids, whose texts duplicate
 * their successors (`GPL-2.0` is `GPL-2.0-only`). Loaded on first use: about 5 MB.
 */
export function spdxReferenceTexts(): ReferenceText[] {
  const full = require('spdx-license-list/full') as Record<string, { licenseText: string }>;
  const deprecated = new Set(require('spdx-license-ids/deprecated.json') as string[]);
  return Object.entries(full)
    .filter(([id]) => !deprecated.has(id))
    .map(([id, entry]) => ({ id, text: entry.licenseText }));
}
