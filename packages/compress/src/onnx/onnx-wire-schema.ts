import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { WireType, wireTypeName, type FieldTag } from './file-wire-reader.js';
import { OnnxFormatError } from './onnx-format-error.js';

interface FieldRule {
  readonly name: string;
  readonly wireTypes: readonly number[];
}

const rulesBySchema = new WeakMap<DescMessage, ReadonlyMap<number, FieldRule>>();

/**
 * Throws when a known field of `schema` arrives with a wire type its declaration does not allow,
 * the surest sign that the bytes are some other message. `context` starts the error message.
 */
export function checkWireType(schema: DescMessage, tag: FieldTag, context: string): void {
  const rule = fieldRules(schema).get(tag.field);
  if (rule === undefined || rule.wireTypes.includes(tag.wireType)) return;
  const expected = rule.wireTypes.map(wireTypeName).join(' or ');
  throw new OnnxFormatError(
    `${context}: ${schema.name} field ${tag.field} (${rule.name}) at byte ${tag.at} has wire type ` +
      `${wireTypeName(tag.wireType)}, expected ${expected}`,
  );
}

function fieldRules(schema: DescMessage): ReadonlyMap<number, FieldRule> {
  let rules = rulesBySchema.get(schema);
  if (rules === undefined) {
    rules = new Map(schema.fields.map((field) => [field.number, { name: field.name, wireTypes: allowedWireTypes(field) }]));
    rulesBySchema.set(schema, rules);
  }
  return rules;
}

function allowedWireTypes(field: DescField): number[] {
  switch (field.fieldKind) {
    case 'scalar':
      return [scalarWireType(field.scalar)];
    case 'enum':
      return [WireType.varint];
    case 'list':
      if (field.listKind === 'message') return [WireType.bytes];
      // Parsers must accept repeated numbers both packed and unpacked.
      {
        const element = field.listKind === 'enum' ? WireType.varint : scalarWireType(field.scalar);
        return element === WireType.bytes ? [WireType.bytes] : [element, WireType.bytes];
      }
    case 'message':
    case 'map':
      return [WireType.bytes];
  }
}

function scalarWireType(scalar: ScalarType): number {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.bytes;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.fixed32;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.fixed64;
    default:
      return WireType.varint;
  }
}
