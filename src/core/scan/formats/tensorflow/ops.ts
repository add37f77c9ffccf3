/**
 * TensorFlow ops by what running them does outside the graph, from their registrations
 * (tensorflow/core/ops/io_ops.cc, script_ops.cc, dataset_ops.cc, experimental_dataset_ops.cc,
 * summary_ops.cc, debug_ops.cc, rpc_ops.cc, data_flow_ops.cc, lookup_ops.cc, checkpoint_ops.cc).
 */
export const dangerousOps: ReadonlyMap<string, string> = new Map([
  // Files, read or listed.
  ...[
    'ReadFile',
    'MatchingFiles',
    'WholeFileReader',
    'WholeFileReaderV2',
    'TextLineReader',
    'TextLineReaderV2',
    'FixedLengthRecordReader',
    'FixedLengthRecordReaderV2',
    'TFRecordReader',
    'TFRecordReaderV2',
    'LMDBReader',
    'RecordInput',
    'TextLineDataset',
    'TFRecordDataset',
    'TFRecordDatasetV2',
    'FixedLengthRecordDataset',
    'FixedLengthRecordDatasetV2',
    'LMDBDataset',
    'ExperimentalLMDBDataset',
    'CSVDataset',
    'CSVDatasetV2',
    'ExperimentalCSVDataset',
    'SqlDataset',
    'ExperimentalSqlDataset',
    'LoadDataset',
    'LoadAndRemapMatrix',
    'GenerateVocabRemapping',
  ].map((op) => [op, 'reads files'] as const),
  ['ImmutableConst', 'memory-maps a file named by the graph'],
  // Files, written.
  ...[
    'WriteFile',
    'SaveDataset',
    'SaveDatasetV2',
    'SnapshotDataset',
    'SnapshotDatasetV2',
    'DatasetToTFRecord',
    'ExperimentalDatasetToTFRecord',
    'CreateSummaryFileWriter',
    'CreateSummaryDbWriter',
  ].map((op) => [op, 'writes files'] as const),
  ['FileSystemSetConfiguration', 'reconfigures file systems'],
  // Python.
  ...['PyFunc', 'PyFuncStateless', 'EagerPyFunc'].map(
    (op) => [op, 'calls a Python function of the loading process'] as const,
  ),
  // Network.
  ...[
    'DataServiceDataset',
    'DataServiceDatasetV2',
    'DataServiceDatasetV3',
    'DataServiceDatasetV4',
    'RegisterDataset',
    'RegisterDatasetV2',
    'Rpc',
    'TryRpc',
    'RpcClient',
    'RpcServer',
    'RpcServerStart',
    'RpcServerRegister',
    'RpcCall',
  ].map((op) => [op, 'connects to other hosts'] as const),
]);

/** Checkpoint ops: file reads and writes every SavedModel has in its saver's functions. */
export const checkpointOps: ReadonlyMap<string, string> = new Map([
  ['SaveV2', 'writes files'],
  ['Save', 'writes files'],
  ['SaveSlices', 'writes files'],
  ['MergeV2Checkpoints', 'moves and deletes files'],
  ['RestoreV2', 'reads files'],
  ['Restore', 'reads files'],
  ['RestoreSlice', 'reads files'],
]);

/** Lookup-table initialisers that read a text file (normally a vocabulary asset). */
export const tableFileOps: ReadonlySet<string> = new Set([
  'InitializeTableFromTextFile',
  'InitializeTableFromTextFileV2',
]);

/** tfdbg ops: with `debug_urls` (file://, grpc://) they dump tensors to files or hosts. */
export const debugOps: ReadonlySet<string> = new Set([
  'DebugIdentity',
  'DebugIdentityV2',
  'DebugIdentityV3',
  'DebugNanCount',
  'DebugNumericSummary',
  'DebugNumericSummaryV2',
  'Copy',
  'CopyHost',
]);
