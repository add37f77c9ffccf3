import { ascii, type FormatReader, startsWith } from '../../format-reader.js';
import { reportTemplate } from '../jinja/chat-template-reader.js';
import { type GgufProblemKind, parseGgufHeader } from './gguf-header.js';

const ruleOf: Record<GgufProblemKind, 'ggufMalformed' | 'ggufTensorInfo' | 'ggufDuplicateKey'> = {
  malformed: 'ggufMalformed',
  tensor: 'ggufTensorInfo',
  duplicate: 'ggufDuplicateKey',
};

/**
 * GGUF (llama.cpp): the header is parsed completely and checked against the file, and every chat
 * template it carries is analysed. Tensor data is never read.
 */
export const ggufReader: FormatReader = {
  id: 'gguf',
  description: 'GGUF file',
  detect: (head) => startsWith(head, ascii('GGUF')),
  async scan(source, context) {
    const header = await parseGgufHeader(source);
    for (const problem of header.problems) {
      context.report(
        ruleOf[problem.kind],
        problem.message,
        problem.offset === undefined ? {} : { offset: problem.offset },
      );
    }
    if (header.problems.some((problem) => problem.kind === 'malformed')) context.partial();
    for (const template of header.templates) {
      if (template.text === undefined) {
        context.report(
          'templateUnparsable',
          `${template.key}: template of ${template.length} bytes exceeds the analysis limit`,
          { offset: template.offset },
        );
      } else reportTemplate(context, template.key, template.text, template.offset);
    }
    return undefined;
  },
};
