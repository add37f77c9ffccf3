import { describe, expect, it } from 'vitest';
import { GlobalPolicy } from '../../../../src/core/scan/policy/global-policy.js';

const verdict = (policy: GlobalPolicy, path: string) => {
  const cut = path.lastIndexOf('.');
  return policy.classify(path.slice(0, cut), path.slice(cut + 1)).verdict;
};

describe('GlobalPolicy', () => {
  const policy = new GlobalPolicy();

  it('knows the reconstructors of real checkpoints', () => {
    for (const path of [
      'torch._utils._rebuild_tensor_v2',
      'torch.FloatStorage',
      'torch.nn.modules.linear.Linear',
      'collections.OrderedDict',
      'numpy.core.multiarray._reconstruct',
      'numpy._core.multiarray._reconstruct',
      'sklearn.ensemble._forest.RandomForestClassifier',
      'joblib.numpy_pickle.NumpyArrayWrapper',
      'builtins.set',
      '__builtin__.set',
      'copy_reg._reconstructor',
    ]) {
      expect(verdict(policy, path), path).toBe('safe');
    }
  });

  it('treats modules, submodules and Python 2 aliases of dangerous modules as dangerous', () => {
    for (const path of [
      'os.system',
      'os.path.join',
      'posix.system',
      'subprocess.Popen',
      'commands.getoutput',
      'builtins.getattr',
      '__builtin__.eval',
      'builtins.__import__',
      'torch.hub.load',
      'torch.serialization.load',
      'numpy.core._ufunc_reconstruct',
      'uuid._get_command_stdout',
      'pip._internal.main',
    ]) {
      expect(verdict(policy, path), path).toBe('dangerous');
    }
  });

  it('follows the attribute walk of dotted names (protocol 4 STACK_GLOBAL)', () => {
    expect(policy.classify('collections', 'os.system').verdict).toBe('dangerous');
    expect(policy.classify('torch.nn.modules.linear', 'Linear.__init__.__globals__').verdict).toBe(
      'dangerous',
    );
    expect(policy.classify('torch._utils', '_rebuild_tensor_v2').verdict).toBe('safe');
  });

  it('does not let a class rule admit functions', () => {
    expect(verdict(policy, 'torch.nn.modules.module.register_module_forward_hook')).toBe('unknown');
    expect(verdict(policy, 'sklearn.utils.fixes.some_function')).toBe('unknown');
  });

  it('lets configuration allow and deny, deny first', () => {
    const custom = new GlobalPolicy({
      allow: ['mypkg.*', 'os.getcwd'],
      deny: ['mypkg.evil.*', 'torch.FloatStorage'],
    });
    expect(verdict(custom, 'mypkg.models.Net')).toBe('safe');
    expect(verdict(custom, 'mypkg.evil.run')).toBe('dangerous');
    expect(verdict(custom, 'os.getcwd')).toBe('safe');
    expect(verdict(custom, 'torch.FloatStorage')).toBe('dangerous');
  });

  it('marks loaders whose arguments are scanned as nested pickles', () => {
    expect(policy.classify('pickle', 'loads')).toMatchObject({
      verdict: 'dangerous',
      nestedLoader: true,
      trustedLoader: false,
    });
    expect(policy.classify('torch.storage', '_load_from_bytes')).toMatchObject({
      verdict: 'unknown',
      nestedLoader: true,
      trustedLoader: true,
    });
  });
});
