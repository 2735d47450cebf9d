/**
 * A WebSocket client at the byte level, over a plain `net` socket: for tests that
 * send what no well-behaved client library would (unmasked frames, reserved bits,
 * unknown opcodes, absurd lengths, invalid UTF-8) and read the server's answer.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface RawSocket {
  readonly socket: Socket;
  /** Bytes received after the handshake answer. */
  readonly received: () => Buffer;
  /** Resolves once the server has ended or destroyed the connection. */
  readonly ended: Promise<void>;
}

export interface ServerFrame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/**
 * Opens `path` on host:port with a WebSocket upgrade and resolves once the
 * server has answered the handshake (`status` 101 when it accepted).
 */
export function rawUpgrade(
  port: number,
  path: string,
): Promise<{ status: number; raw: RawSocket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    let handshakeDone = false;
    let after = Buffer.alloc(0);
    const ended = new Promise<void>((done) => socket.once('close', () => done()));
    // A server that drops the connection may make our own writes fail: that is an answer, not a test error.
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (handshakeDone) {
        after = Buffer.concat([after, chunk]);
        return;
      }
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      handshakeDone = true;
      const head = buffer.subarray(0, end).toString('latin1');
      after = buffer.subarray(end + 4);
      const status = Number(head.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
      resolve({ status, head, raw: { socket, received: () => after, ended } });
    });
    socket.once('close', () => {
      if (!handshakeDone) reject(new Error('connection closed before the handshake answer'));
    });
    socket.once('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

/**
 * One client frame. Masked unless `masked: false`; `lengthOverride` writes a
 * length header that does not match the payload (e.g. 2^30 with no payload at all).
 */
export function clientFrame(options: {
  opcode: number;
  payload?: Buffer;
  fin?: boolean;
  rsv1?: boolean;
  masked?: boolean;
  lengthOverride?: number;
}): Buffer {
  const payload = options.payload ?? Buffer.alloc(0);
  const masked = options.masked ?? true;
  const length = options.lengthOverride ?? payload.length;
  const first = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) | (options.opcode & 0x0f);
  const maskBit = masked ? 0x80 : 0;
  let header: Buffer;
  if (length < 126) header = Buffer.from([first, maskBit | length]);
  else if (length < 65536) {
    header = Buffer.alloc(4);
    header[0] = first;
    header[1] = maskBit | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  if (!masked) return Buffer.concat([header, payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return Buffer.concat([header, mask, body]);
}

/** Parses the (unmasked) frames a server sent; a trailing partial frame is left out. */
export function serverFrames(bytes: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const first = bytes[at] ?? 0;
    const second = bytes[at + 1] ?? 0;
    let length = second & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      if (offset + 2 > bytes.length) break;
      length = bytes.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      if (offset + 8 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(offset));
      offset += 8;
    }
    if (offset + length > bytes.length) break;
    frames.push({
      fin: (first & 0x80) !== 0,
      opcode: first & 0x0f,
      payload: bytes.subarray(offset, offset + length),
    });
    at = offset + length;
  }
  return frames;
}

/** The close frame's status code, or null when the server sent no close frame. */
export function closeCode(bytes: Buffer): number | null {
  const close = serverFrames(bytes).find((frame) => frame.opcode === 0x8);
  if (!close) return null;
  return close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
}
