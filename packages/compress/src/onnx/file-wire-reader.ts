import type { FileHandle } from 'node:fs/promises';
import { OnnxFormatError } from './onnx-format-error.js';

/** Protobuf wire types. */
export const WireType = { varint: 0, fixed64: 1, bytes: 2, startGroup: 3, endGroup: 4, fixed32: 5 } as const;

const WIRE_TYPE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

/** Human name of a wire type, for error messages. */
export function wireTypeName(wireType: number): string {
  return WIRE_TYPE_NAMES[wireType] ?? `invalid (${wireType})`;
}

/** A field key read from the wire, with the byte offset it starts at. */
export interface FieldTag {
  readonly field: number;
  readonly wireType: number;
  readonly at: number;
}

/** Default size of the read window. */
const WINDOW_BYTES = 64 * 1024;
const MAX_VARINT_BYTES = 10;
const utf8 = new TextDecoder();

/**
 * Reads protobuf wire format from a file through one fixed-size window of positional reads,
 * so memory stays the same whatever the file size. Every length is checked against the end of
 * its enclosing message; nothing beyond a caller-chosen limit is ever allocated.
 */
export class FileWireReader {
  /** File offset of the next byte to read. */
  position = 0;
  private readonly window: Uint8Array;
  private windowStart = 0;
  private windowLength = 0;

  constructor(
    private readonly file: FileHandle,
    readonly size: number,
    windowBytes = WINDOW_BYTES,
  ) {
    this.window = new Uint8Array(windowBytes);
  }

  /** Reads a field key; rejects field number 0 and the group and invalid wire types. */
  async readTag(): Promise<FieldTag> {
    const at = this.position;
    const key = await this.readVarint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0 || field > 0x1fffffff) {
      throw new OnnxFormatError(`corrupt protobuf: invalid field number ${field} at byte ${at}`);
    }
    if (wireType === WireType.startGroup || wireType === WireType.endGroup) {
      throw new OnnxFormatError(`unsupported wire type ${wireType} (group) at byte ${at}`);
    }
    if (wireType > WireType.fixed32) {
      throw new OnnxFormatError(`corrupt protobuf: invalid wire type ${wireType} at byte ${at}`);
    }
    return { field, wireType, at };
  }

  /** Reads an unsigned varint as a number (exact below 2^53, approximate above). */
  async readVarint(): Promise<number> {
    const start = await this.varintStart();
    let value = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.window[start + i] as number;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if (byte < 0x80) {
        this.position += i + 1;
        return value;
      }
    }
    throw new Error('unreachable: varintStart checked the terminator');
  }

  /** Reads a varint as a signed 64-bit integer, as `int64` fields are encoded. */
  async readVarint64(): Promise<bigint> {
    const start = await this.varintStart();
    let value = 0n;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.window[start + i] as number;
      value |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) {
        this.position += i + 1;
        return BigInt.asIntN(64, value);
      }
    }
    throw new Error('unreachable: varintStart checked the terminator');
  }

  /**
   * Reads the length of a length-delimited field and checks that its payload fits before `end`,
   * the end of the enclosing message. `what` names the field in error messages.
   */
  async readLength(end: number, what: string, tagAt: number): Promise<number> {
    const length = await this.readVarint();
    const left = end - this.position;
    if (length > left) {
      if (end === this.size) {
        throw new OnnxFormatError(
          `truncated at byte ${this.size}: ${what} at byte ${tagAt} declares ${length} bytes but only ${left} remain`,
        );
      }
      throw new OnnxFormatError(
        `corrupt ${what} at byte ${tagAt}: declares ${length} bytes, more than the ${left} left in its enclosing message`,
      );
    }
    return length;
  }

  /**
   * Reads a length-delimited field whole, refusing any longer than `limit` bytes so that
   * hostile input cannot make the reader allocate without bound.
   */
  async readDelimited(end: number, what: string, tagAt: number, limit: number): Promise<Uint8Array> {
    const length = await this.readLength(end, what, tagAt);
    if (length > limit) {
      throw new OnnxFormatError(`${what} at byte ${tagAt} is ${length} bytes, more than the ${limit}-byte limit`);
    }
    return this.readBytes(length);
  }

  /** Reads a UTF-8 string field of at most `limit` bytes. */
  async readString(end: number, what: string, tagAt: number, limit: number): Promise<string> {
    return utf8.decode(await this.readDelimited(end, what, tagAt, limit));
  }

  /** Reads a length prefix (checked as by {@link readLength}) and returns where its payload ends. */
  async readPayloadEnd(end: number, what: string, tagAt: number): Promise<number> {
    const length = await this.readLength(end, what, tagAt);
    return this.position + length;
  }

  /** Returns a copy of the next `length` bytes. Callers bound `length` before calling. */
  async readBytes(length: number): Promise<Uint8Array> {
    if (length <= this.window.length) {
      const available = await this.fill(length);
      if (available < length) throw this.truncated('field');
      const offset = this.position - this.windowStart;
      this.position += length;
      return this.window.slice(offset, offset + length);
    }
    const bytes = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.file.read(bytes, filled, length - filled, this.position + filled);
      if (bytesRead === 0) throw this.truncated('field');
      filled += bytesRead;
    }
    this.position += length;
    return bytes;
  }

  /** Moves past `length` bytes without reading them. */
  skip(length: number): void {
    this.position += length;
  }

  /** Skips the value of a field of any supported wire type, staying within `end`. */
  async skipField(tag: FieldTag, end: number): Promise<void> {
    switch (tag.wireType) {
      case WireType.varint:
        await this.readVarint();
        break;
      case WireType.fixed64:
        this.position += 8;
        break;
      case WireType.fixed32:
        this.position += 4;
        break;
      case WireType.bytes:
        this.position = await this.readPayloadEnd(end, `field ${tag.field}`, tag.at);
        break;
    }
    this.checkWithin(end, tag);
  }

  /** Counts the varints in the packed run ending at `end`, streaming through the window. */
  async countVarints(end: number): Promise<number> {
    let count = 0;
    while (this.position < end) {
      const available = await this.fill(Math.min(end - this.position, this.window.length));
      if (available === 0) throw this.truncated('packed field');
      const offset = this.position - this.windowStart;
      for (let i = 0; i < available; i++) if ((this.window[offset + i] as number) < 0x80) count++;
      this.position += available;
    }
    return count;
  }

  /** Throws if the field that started at `tag.at` ran past `end`. */
  checkWithin(end: number, tag: FieldTag): void {
    if (this.position <= end) return;
    if (end === this.size) {
      throw new OnnxFormatError(`truncated at byte ${this.size}: field ${tag.field} at byte ${tag.at} runs past the end of the file`);
    }
    throw new OnnxFormatError(`corrupt protobuf: field ${tag.field} at byte ${tag.at} runs past the end of its enclosing message`);
  }

  /** Makes the window hold a complete varint at `position`; returns its offset in the window. */
  private async varintStart(): Promise<number> {
    const available = await this.fill(MAX_VARINT_BYTES);
    const offset = this.position - this.windowStart;
    for (let i = 0; i < available; i++) {
      if ((this.window[offset + i] as number) < 0x80) return offset;
    }
    if (available < MAX_VARINT_BYTES) throw this.truncated('varint');
    throw new OnnxFormatError(`corrupt protobuf: varint longer than ${MAX_VARINT_BYTES} bytes at byte ${this.position}`);
  }

  /**
   * Makes up to `wanted` bytes from `position` available in the window and returns how many are
   * (fewer only at the end of the file). Bytes already in the window are kept, not re-read.
   */
  private async fill(wanted: number): Promise<number> {
    const offset = this.position - this.windowStart;
    if (offset >= 0 && offset + wanted <= this.windowLength) return wanted;
    let kept = 0;
    if (offset >= 0 && offset < this.windowLength) {
      kept = this.windowLength - offset;
      this.window.copyWithin(0, offset, this.windowLength);
    }
    this.windowStart = this.position;
    const target = Math.max(0, Math.min(this.window.length, this.size - this.position));
    let filled = kept;
    while (filled < target) {
      const { bytesRead } = await this.file.read(this.window, filled, target - filled, this.position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.windowLength = filled;
    return Math.min(wanted, filled);
  }

  private truncated(what: string): OnnxFormatError {
    return new OnnxFormatError(`truncated at byte ${this.size}: ${what} at byte ${this.position} runs past the end of the file`);
  }
}
