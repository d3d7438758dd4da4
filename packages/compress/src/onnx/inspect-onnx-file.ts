import { open } from 'node:fs/promises';
import { ModelProtoSchema, OperatorSetIdProtoSchema } from 'onnx-buf';
import { decodeMessage } from './decode-message.js';
import { FileWireReader } from './file-wire-reader.js';
import { walkGraph, type GraphInterface } from './graph-walk.js';
import { InspectionTally } from './inspection-tally.js';
import { assertModelEssentials } from './model-essentials.js';
import type { OnnxFileInspection, OpsetImport } from './onnx-file-inspection.js';
import { OnnxFormatError } from './onnx-format-error.js';
import { checkWireType } from './onnx-wire-schema.js';

const M = ModelProtoSchema.field;
const SMALL_FIELD_LIMIT = 1024 * 1024;

/**
 * Reads what Ferry needs to know about an ONNX model file (its interface, opsets, weight count
 * and size, operators) without loading it: the file is read through a 64 KiB window and tensor
 * payloads are skipped, so memory stays flat even for multi-gigabyte models. Weights in
 * `Constant` nodes and in `If`/`Loop`/`Scan` subgraphs are counted too.
 *
 * @param path - Path of the `.onnx` file.
 * @throws {@link OnnxFormatError} when the file is empty, truncated, corrupt or not a model.
 * File-system errors (missing file, permissions) are passed through unchanged.
 *
 * @example
 * ```ts
 * const { io, parameterCount } = await inspectOnnxFile('mnist.onnx');
 * io.inputs[0]; // { name: 'input', type: 'float32', shape: ['N', 784] }
 * ```
 */
export async function inspectOnnxFile(path: string): Promise<OnnxFileInspection> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size === 0) throw new OnnxFormatError('not an ONNX model: the file is empty');
    return await inspectModel(new FileWireReader(file, size));
  } finally {
    await file.close();
  }
}

async function inspectModel(reader: FileWireReader): Promise<OnnxFileInspection> {
  const end = reader.size;
  const tally = new InspectionTally();
  const graph: GraphInterface = { inputs: [], outputs: [], initializerNames: new Set() };
  const opsets: OpsetImport[] = [];
  let irVersion: bigint | undefined;
  let producerName: string | undefined;
  let producerVersion: string | undefined;
  let hasGraph = false;

  while (reader.position < end) {
    const tag = await reader.readTag();
    checkWireType(ModelProtoSchema, tag, 'not an ONNX model');
    switch (tag.field) {
      case M.irVersion.number:
        irVersion = await reader.readVarint64();
        break;
      case M.producerName.number:
        producerName = await reader.readString(end, 'producer_name', tag.at, SMALL_FIELD_LIMIT);
        break;
      case M.producerVersion.number:
        producerVersion = await reader.readString(end, 'producer_version', tag.at, SMALL_FIELD_LIMIT);
        break;
      case M.graph.number: {
        // A repeated graph field merges into one graph, as protobuf parsers do.
        hasGraph = true;
        const graphEnd = await reader.readPayloadEnd(end, 'graph', tag.at);
        await walkGraph(reader, graphEnd, tally, 0, graph);
        break;
      }
      case M.opsetImport.number: {
        const bytes = await reader.readDelimited(end, 'opset_import', tag.at, SMALL_FIELD_LIMIT);
        const opset = decodeMessage(OperatorSetIdProtoSchema, bytes, 'opset_import', tag.at);
        tally.retain(opset.domain.length);
        opsets.push({ domain: opset.domain, version: Number(opset.version) });
        break;
      }
      default:
        await reader.skipField(tag, end);
    }
    reader.checkWithin(end, tag);
  }

  assertModelEssentials({
    hasGraph,
    hasIrVersion: irVersion !== undefined,
    opsetCount: opsets.length,
    outputCount: graph.outputs.length,
  });
  return {
    irVersion: Number(irVersion),
    opsets,
    producer: producerLabel(producerName, producerVersion),
    io: { inputs: graph.inputs.filter((input) => !graph.initializerNames.has(input.name)), outputs: graph.outputs },
    parameterCount: tally.parameterCount,
    parameterBytes: tally.parameterBytes,
    operators: tally.operatorCounts(),
    externalData: tally.externalData,
  };
}

function producerLabel(name: string | undefined, version: string | undefined): string | null {
  const label = [name, version].filter((part) => part !== undefined && part !== '').join(' ');
  return label === '' ? null : label;
}
