import type { FileReport, ScanSummary } from '../../core/findings.js';

export const jsonSchemaVersion = 1;

export interface ScanDocument {
  schemaVersion: number;
  tool: { name: 'mlsec'; version: string };
  failOn: string;
  results: FileReport[];
  summary: ScanSummary & { failed: boolean };
}

export function renderJson(document: ScanDocument): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
