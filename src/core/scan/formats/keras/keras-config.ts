import type { ScanContext } from '../../context.js';
import { classifyReference } from '../../policy/callable-reference.js';
import { type ConfigObject, isObject, walkObjects } from '../config/walk.js';

/** Packages whose objects Keras itself resolves (`_retrieve_class_or_fn`), and tf.keras. */
const kerasPackages = new Set(['keras', 'keras_hub', 'keras_cv', 'keras_nlp', 'tf_keras']);

/**
 * Keras APIs a config can reach that load, download or write files, or switch safe mode off:
 * Keras 3.11's NON_MODELING_APIS / LOADING_APIS (CVE-2025-8747, CVE-2025-9906), and TFSMLayer,
 * which loads a SavedModel from a path (CVE-2026-1462).
 */
const kerasGadgets = new Set([
  'enable_unsafe_deserialization',
  'load_model',
  'model_from_json',
  'model_from_yaml',
  'save_model',
  'load_weights',
  'save_weights',
  'serialize_keras_object',
  'deserialize_keras_object',
  'register_keras_serializable',
  'get_file',
  'load_img',
  'save_img',
  'clear_session',
  'audio_dataset_from_directory',
  'image_dataset_from_directory',
  'text_dataset_from_directory',
  'TFSMLayer',
]);

/**
 * TensorFlow functions a TFOpLambda layer (`function` is a name under `tf.`) may call that read or
 * write files, run Python or load native code. Math, array and NN ops are ordinary in tf.keras
 * models (`x + 1` on a Keras tensor becomes `__operators__.add`).
 */
const tfGadget =
  /^(?:io|gfile|debugging|summary|saved_model|data|keras|lookup|distribute|autograph)\.|^(?:compat\.v1\.(?:io|gfile|data|lookup|saved_model|summary)\.|compat\.v1\.(?:py_func|read_file|write_file|Print|load_file_system_library|keras)\b)|^(?:py_function|numpy_function|py_func|print|load_op_library|load_library|read_file|write_file|function)$|^raw_ops\.(?:ReadFile|WriteFile|MatchingFiles|PyFunc|PyFuncStateless|EagerPyFunc|Save|SaveV2|SaveSlices|Restore|RestoreV2|RestoreSlice|MergeV2Checkpoints|ImmutableConst|WholeFileReader\w*|TextLineReader\w*|FixedLengthRecordReader\w*|TFRecordReader\w*|LMDBReader|InitializeTableFromTextFile\w*|PrintV2|Print)$/;

/** `class_name`s Keras uses for values, not for resolvable objects. */
const valueClassNames = new Set([
  '__bytes__',
  '__slice__',
  '__ellipsis__',
  '__keras_tensor__',
  '__tensor__',
  '__numpy__',
  '__typespec__',
]);

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Found issues are reported once per object and rule, so a model repeating a layer reports each. */
export function inspectKerasConfig(root: unknown, context: ScanContext, where: string): void {
  const complete = walkObjects(root, (object, path) => inspectObject(object, path, context, where));
  if (!complete) {
    context.report('kerasUnreadable', `${where} has too many objects; the rest was not inspected`);
    context.partial();
  }
}

function describe(object: ConfigObject, path: string, where: string): string {
  const className = str(object.class_name) ?? 'object';
  const name = isObject(object.config) ? str(object.config.name) : undefined;
  const at = path === '' ? where : `${where} at ${path}`;
  return name === undefined ? `${className} (${at})` : `${className} layer ${JSON.stringify(name)} (${at})`;
}

function inspectObject(object: ConfigObject, path: string, context: ScanContext, where: string): void {
  const className = str(object.class_name);
  if (className === undefined) return;
  if (className === '__lambda__') {
    context.report(
      'kerasBytecode',
      `${where} at ${path || 'the top'}: __lambda__ object holds marshalled Python bytecode`,
    );
    return;
  }
  const config = isObject(object.config) ? object.config : undefined;
  if (config && (className === 'Lambda' || str(config.function_type) !== undefined)) {
    inspectLambda(object, config, path, context, where);
  }
  if (config && (className === 'TFOpLambda' || className === 'SlicingOpLambda')) {
    const fn = str(config.function);
    if (
      fn !== undefined &&
      (tfGadget.test(fn) || classifyReference(context.policy, `tensorflow.${fn}`).verdict === 'dangerous')
    ) {
      context.report(
        'kerasGadget',
        `${describe(object, path, where)} calls tf.${fn}, which touches files or runs Python`,
        {
          global: `tensorflow.${fn}`,
        },
      );
    }
  }
  if (valueClassNames.has(className)) return;
  const module = str(object.module);
  if (className === 'function') {
    const fn = typeof object.config === 'string' ? object.config : undefined;
    if (fn !== undefined) judge(module ?? 'builtins', fn, object, path, context, where, true);
    return;
  }
  if (module !== undefined) {
    judge(module, className, object, path, context, where, false);
    return;
  }
  if (kerasGadgets.has(className)) {
    judge('keras', className, object, path, context, where, false);
    return;
  }
  // Without a module, Keras resolves a `package>Name` registered_name from its custom-object registry.
  const registered = str(object.registered_name);
  if (registered?.includes('>')) {
    const [pkg, name] = registered.split('>', 2) as [string, string];
    if (!kerasPackages.has(pkg)) judge(pkg, name, object, path, context, where, false);
  }
}

/** Keras 2 keeps the function of a Lambda layer as `function` + `function_type`; Keras 3 as an object. */
function inspectLambda(
  object: ConfigObject,
  config: ConfigObject,
  path: string,
  context: ScanContext,
  where: string,
) {
  const type = str(config.function_type);
  const fn = config.function;
  if (type === 'lambda' || (Array.isArray(fn) && typeof fn[0] === 'string')) {
    context.report(
      'kerasBytecode',
      `${describe(object, path, where)} carries marshalled Python bytecode (function_type lambda)`,
    );
    return;
  }
  if (type === 'function' && typeof fn === 'string') {
    judge(str(config.module) ?? 'builtins', fn, object, path, context, where, true);
  }
}

function judge(
  module: string,
  name: string,
  object: ConfigObject,
  path: string,
  context: ScanContext,
  where: string,
  isFunction: boolean,
): void {
  const reference = `${module}.${name}`;
  const top = module.split('.')[0]!;
  const what = `${describe(object, path, where)} names ${reference}`;
  const verdict = classifyReference(context.policy, reference);
  if (
    kerasPackages.has(top) ||
    module.startsWith('tensorflow.keras') ||
    module.startsWith('tensorflow.python.keras')
  ) {
    // Keras resolves these through its own registry of public symbols: only its loading APIs are
    // gadgets (the policy's blanket entries for keras.saving and tf_keras would flag every layer).
    if (kerasGadgets.has(name) || (name.includes('.') && verdict.verdict === 'dangerous')) {
      context.report(
        'kerasGadget',
        `${what}, a Keras API that loads, downloads or writes files or disables safe mode`,
        {
          global: reference,
        },
      );
    }
    return;
  }
  if (verdict.verdict === 'safe') return;
  if (verdict.verdict === 'dangerous') {
    context.report('kerasDangerousCallable', `${what} (${verdict.reason})`, { global: reference });
    return;
  }
  // Keras 3 looks a function of module builtins up in its own activations, losses and the like.
  if (isFunction && module === 'builtins') return;
  context.report('kerasCustomObject', `${what}, code outside Keras (${verdict.reason})`, {
    global: reference,
  });
}
