/**
 * HTTP at the byte level: writes what no well-behaved client sends (a target that is no
 * URL, a body announced bigger than it is, a handshake without its key) and returns
 * everything the server answers until it closes the connection.
 */
import { connect } from 'node:net';

/**
 * Sends `bytes` (written, never half-closed: a half-closed client is dropped before it is
 * answered) and resolves with the answer once the server closes. Ask for
 * `Connection: close` where the server would otherwise keep the connection.
 */
export function exchange(port: number, ...bytes: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      for (const chunk of bytes) socket.write(chunk);
    });
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}
