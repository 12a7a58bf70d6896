/** A raw TCP server on 127.0.0.1 at an ephemeral port whose close does not wait for its clients to hang up. */
import * as net from 'node:net';

export interface LoopbackServer {
  port: number;
  /** Destroys every open connection, then stops listening. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 port 0 and hands each connection to `onSocket`; a connection's errors end only it. */
export function listenLoopback(onSocket: (socket: net.Socket) => void): Promise<LoopbackServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    ),
  );
}
