import { fromBinary, isFieldSet, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from 'onnx-buf';
import { assertModelEssentials } from './model-essentials.js';
import { OnnxFormatError } from './onnx-format-error.js';

/**
 * Decodes a whole ONNX model held in memory. Unknown fields are kept, so
 * `writeModel(readModel(bytes))` gives back the same bytes.
 *
 * For files too large to hold, use {@link inspectOnnxFile} to learn about them instead.
 *
 * @throws {@link OnnxFormatError} when the bytes are not a protobuf ModelProto, or the model
 * lacks an ir_version, a graph, an opset_import or graph outputs.
 *
 * @example
 * ```ts
 * const model = readModel(await readFile('mnist.onnx'));
 * model.graph?.node.length;
 * ```
 */
export function readModel(bytes: Uint8Array): ModelProto {
  if (bytes.length === 0) throw new OnnxFormatError('not an ONNX model: the input is empty');
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new OnnxFormatError(`not an ONNX model: ${reason}`, { cause: error });
  }
  assertModelEssentials({
    hasGraph: model.graph !== undefined,
    hasIrVersion: isFieldSet(model, ModelProtoSchema.field.irVersion),
    opsetCount: model.opsetImport.length,
    outputCount: model.graph?.output.length ?? 0,
  });
  return model;
}

/** Encodes a model to the bytes of an `.onnx` file. */
export function writeModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model);
}
