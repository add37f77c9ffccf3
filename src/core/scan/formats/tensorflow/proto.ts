import protobuf from 'protobufjs';

/**
 * The messages of TensorFlow's public .proto definitions that the scan decodes
 * (tensorflow/core/framework/attr_value.proto, tensor.proto, protobuf/saver.proto,
 * protobuf/meta_graph.proto; tf_keras/protobuf/saved_metadata.proto), with only the fields it
 * reads. Fields left out (tensor contents, shapes, nested attribute maps) are skipped by the
 * decoder without being copied. Larger messages (SavedModel, MetaGraphDef, GraphDef, NodeDef,
 * FunctionDef) are walked field by field over the file by wire.ts, so that tensor data is never read.
 */
const descriptor = {
  nested: {
    AttrValue: {
      oneofs: { value: { oneof: ['list', 's', 'i', 'f', 'b', 'type', 'tensor', 'placeholder', 'func'] } },
      fields: {
        list: { type: 'ListValue', id: 1 },
        s: { type: 'bytes', id: 2 },
        i: { type: 'int64', id: 3 },
        f: { type: 'float', id: 4 },
        b: { type: 'bool', id: 5 },
        type: { type: 'int32', id: 6 },
        tensor: { type: 'TensorProto', id: 8 },
        placeholder: { type: 'string', id: 9 },
        func: { type: 'NameAttrList', id: 10 },
      },
    },
    ListValue: {
      fields: {
        s: { rule: 'repeated', type: 'bytes', id: 2 },
        func: { rule: 'repeated', type: 'NameAttrList', id: 9 },
      },
    },
    NameAttrList: { fields: { name: { type: 'string', id: 1 } } },
    TensorProto: {
      fields: {
        dtype: { type: 'int32', id: 1 },
        stringVal: { rule: 'repeated', type: 'bytes', id: 8 },
      },
    },
    SaverDef: {
      fields: {
        filenameTensorName: { type: 'string', id: 1 },
        saveTensorName: { type: 'string', id: 2 },
        restoreOpName: { type: 'string', id: 3 },
      },
    },
    TensorInfo: { fields: { name: { type: 'string', id: 1 } } },
    SignatureDef: {
      fields: {
        inputs: { keyType: 'string', type: 'TensorInfo', id: 1 },
        outputs: { keyType: 'string', type: 'TensorInfo', id: 2 },
        methodName: { type: 'string', id: 3 },
      },
    },
    SignatureDefEntry: {
      fields: { key: { type: 'string', id: 1 }, value: { type: 'SignatureDef', id: 2 } },
    },
    SavedObject: {
      fields: {
        nodeId: { type: 'int32', id: 2 },
        nodePath: { type: 'string', id: 3 },
        identifier: { type: 'string', id: 4 },
        metadata: { type: 'string', id: 5 },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(descriptor);

export interface NameAttrList {
  name: string;
}
export interface AttrValue {
  list?: { s: Uint8Array[]; func: NameAttrList[] };
  s?: Uint8Array;
  tensor?: { dtype: number; stringVal: Uint8Array[] };
  func?: NameAttrList;
}
export interface SaverDef {
  filenameTensorName: string;
  saveTensorName: string;
  restoreOpName: string;
}
export interface SignatureDefEntry {
  key: string;
  value?: {
    inputs: Record<string, { name: string }>;
    outputs: Record<string, { name: string }>;
    methodName: string;
  };
}
export interface SavedObject {
  nodeId: number;
  nodePath: string;
  identifier: string;
  metadata: string;
}

function decoder<T>(name: string): (bytes: Uint8Array) => T {
  const type = root.lookupType(name);
  return (bytes) =>
    type.toObject(type.decode(bytes), { defaults: true, arrays: true, objects: true, longs: Number }) as T;
}

export const decodeAttrValue = decoder<AttrValue>('AttrValue');
export const decodeSaverDef = decoder<SaverDef>('SaverDef');
export const decodeSignatureDefEntry = decoder<SignatureDefEntry>('SignatureDefEntry');
export const decodeSavedObject = decoder<SavedObject>('SavedObject');

/** TensorFlow's DataType enum value for strings (types.proto). */
export const dtString = 7;
