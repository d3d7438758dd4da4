import { fromBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { OnnxFormatError } from './onnx-format-error.js';

/** Decodes one small sub-message read off the wire; a failure becomes an {@link OnnxFormatError}. */
export function decodeMessage<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array, what: string, at: number): MessageShape<Desc> {
  try {
    // Deep enough for the graph nesting limit to speak first, with the clearer message.
    return fromBinary(schema, bytes, { readUnknownFields: false, recursionLimit: 256 });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new OnnxFormatError(`corrupt ${what} at byte ${at}: ${reason}`, { cause: error });
  }
}
