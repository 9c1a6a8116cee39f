// Parser of the "TBAT" binary container used by the `snapshot` and `stats` routes
// (docs/http-api.md): magic "TBAT", uint32 LE header length, JSON header padded so the
// data starts 4-aligned, then a C-ordered uint8/uint16/float32 little-endian array.

const MAGIC = [0x54, 0x42, 0x41, 0x54]; // "TBAT"
const DTYPES = { uint8: Uint8Array, uint16: Uint16Array, float32: Float32Array };

export class ContainerError extends Error {}

export function product(shape) {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Parse a TBAT container.
 * @param {ArrayBuffer} buffer
 * @returns {{header: object, data: Uint8Array|Uint16Array|Float32Array}}
 */
export function parseContainer(buffer) {
  if (!(buffer instanceof ArrayBuffer)) {
    if (ArrayBuffer.isView(buffer)) {
      buffer = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
    } else {
      throw new ContainerError('expected an ArrayBuffer');
    }
  }
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 8) throw new ContainerError('container too short');
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC[i]) throw new ContainerError('bad magic (expected TBAT)');
  }
  const headerLen = new DataView(buffer).getUint32(4, true);
  const dataStart = 8 + headerLen;
  if (dataStart > bytes.length) throw new ContainerError('header length exceeds the container');
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    throw new ContainerError('header is not valid JSON: ' + e.message);
  }
  const Ctor = DTYPES[header.dtype];
  if (!Ctor) throw new ContainerError(`unsupported dtype ${header.dtype}`);
  if (!Array.isArray(header.shape)) throw new ContainerError('header has no shape');
  const count = product(header.shape);
  const byteLen = count * Ctor.BYTES_PER_ELEMENT;
  if (dataStart + byteLen > bytes.length) {
    throw new ContainerError(`data truncated: need ${byteLen} bytes, have ${bytes.length - dataStart}`);
  }
  let data;
  if (dataStart % Ctor.BYTES_PER_ELEMENT === 0) {
    data = new Ctor(buffer, dataStart, count);
  } else {
    // Misaligned (a writer that forgot the padding): copy rather than fail.
    data = new Ctor(buffer.slice(dataStart, dataStart + byteLen));
  }
  return { header, data };
}

/** Build a container (used by the tests and the mock server's JS twin). */
export function encodeContainer(header, data) {
  const enc = new TextEncoder();
  let json = JSON.stringify(header);
  let hbytes = enc.encode(json);
  const pad = (4 - ((8 + hbytes.length) % 4)) % 4;
  if (pad) hbytes = enc.encode(json + ' '.repeat(pad));
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(8 + hbytes.length + raw.length);
  out.set([0x54, 0x42, 0x41, 0x54], 0);
  new DataView(out.buffer).setUint32(4, hbytes.length, true);
  out.set(hbytes, 8);
  out.set(raw, 8 + hbytes.length);
  return out.buffer;
}
