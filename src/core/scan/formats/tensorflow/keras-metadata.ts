import type { RandomAccess } from '../../../source.js';
import type { ScanContext } from '../../context.js';
import { decodeSavedObject } from './proto.js';
import { bytesOf, fields, type WireBudget } from './wire.js';

/** A layer's metadata JSON larger than this is not parsed (tf.keras writes kilobytes). */
const maxMetadataBytes = 16 * 2 ** 20;
const maxJsonDepth = 256;

/**
 * keras_metadata.pb (tf_keras/protobuf/saved_metadata.proto): one SavedObject per layer, whose
 * `metadata` is the layer's JSON config. Lambda layers carry their Python function there, as
 * marshalled bytecode (`function_type: lambda`, or Keras 3's `__lambda__`) or as a module and name.
 */
export async function checkKerasMetadata(
  random: RandomAccess,
  budget: WireBudget,
  context: ScanContext,
): Promise<void> {
  for await (const field of fields(random, 0, random.size, budget)) {
    if (field.number !== 1 || field.wire !== 2) continue;
    const bytes = await bytesOf(random, field, maxMetadataBytes);
    if (!bytes) {
      context.report(
        'tfMalformed',
        `a Keras metadata entry of ${field.end - field.start} bytes was not inspected`,
        {
          offset: field.at,
        },
      );
      context.partial();
      continue;
    }
    let object: ReturnType<typeof decodeSavedObject>;
    let config: unknown;
    try {
      object = decodeSavedObject(bytes);
      config = JSON.parse(object.metadata || 'null');
    } catch {
      context.report('tfMalformed', 'a Keras metadata entry cannot be decoded', { offset: field.at });
      context.partial();
      continue;
    }
    const layer = JSON.stringify(object.nodePath || `node ${object.nodeId}`);
    for (const finding of lambdas(config, 0)) {
      if (finding.kind === 'bytecode') {
        context.report('tfKerasLambda', `${finding.message} (layer ${layer})`, { offset: field.at });
        continue;
      }
      // A function by name: judged like a pickle global, so --allow-global and the config apply.
      const { module, name } = finding;
      const verdict = context.policy.classify(module, name).verdict;
      if (verdict === 'safe') continue;
      const global = `${module}.${name}`;
      if (verdict === 'dangerous') {
        context.report('tfKerasLambda', `${finding.message} (layer ${layer})`, { offset: field.at, global });
      } else {
        context.report(
          'unknownGlobal',
          `${finding.message}, a function that is not on the allowlist (layer ${layer})`,
          {
            offset: field.at,
            global,
          },
        );
      }
    }
  }
}

type LambdaFinding =
  | { kind: 'bytecode'; message: string }
  | { kind: 'function'; message: string; module: string; name: string };

function* lambdas(value: unknown, depth: number): Generator<LambdaFinding> {
  if (depth > maxJsonDepth || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) yield* lambdas(item, depth + 1);
    return;
  }
  const record = value as Record<string, unknown>;
  if (record.class_name === 'Lambda' && typeof record.config === 'object' && record.config !== null) {
    const config = record.config as Record<string, unknown>;
    const fn = config.function;
    const layer = JSON.stringify(typeof config.name === 'string' ? config.name : 'lambda');
    if (
      config.function_type === 'lambda' ||
      (fn !== null && typeof fn === 'object' && (fn as Record<string, unknown>).class_name === '__lambda__')
    ) {
      yield {
        kind: 'bytecode',
        message: `Lambda layer ${layer} holds marshalled Python bytecode that runs when the model is loaded`,
      };
    } else if (
      config.function_type === 'function' &&
      typeof fn === 'string' &&
      typeof config.module === 'string'
    ) {
      const module = config.module;
      if (!/^(keras|tf_keras|tensorflow)(\.|$)/.test(module)) {
        yield {
          kind: 'function',
          message: `Lambda layer ${layer} calls ${module}.${fn} when the model is loaded`,
          module,
          name: fn,
        };
      }
    }
  }
  for (const item of Object.values(record)) yield* lambdas(item, depth + 1);
}
