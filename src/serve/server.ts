/**
 * `epqrng serve`'s listeners: the handler on TCP (default 127.0.0.1:8437)
 * and/or a Unix socket (mode 0660), with bounded timeouts for slow clients,
 * and a graceful close (stop accepting, finish in-flight responses, end
 * /events streams, then stop the chip with STOP/ACK).
 */
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHandler, DEFAULT_MAX_WAIT_S, type HandlerOptions } from './http.ts';
import type { EntropyService } from './service.ts';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8437;

export interface ListenOptions extends HandlerOptions {
  /** TCP host and port; omitted with only `socket`: no TCP listener. */
  tcp?: { host: string; port: number };
  /** Unix socket path (created with mode 0660; an existing socket there is replaced). */
  socket?: string;
  /** A client must send its whole request head within this (default 10 s): slowloris clients get 408. */
  headersTimeoutMs?: number;
  /** Idle keep-alive connections close after this (default 5 s). */
  keepAliveTimeoutMs?: number;
}

export interface EntropyServer {
  servers: Server[];
  /** The TCP address actually bound (port 0 picks a free one). */
  address?: AddressInfo;
  /** Stops accepting, lets in-flight responses finish, ends /events streams, stops the service. */
  close(): Promise<void>;
}

function listenOn(server: Server, target: { host: string; port: number } | string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (typeof target === 'string') server.listen(target, done);
    else server.listen(target.port, target.host, done);
  });
}

/** Serves `service` as ListenOptions say; rejects (nothing left listening) if a listener cannot bind. */
export async function listen(service: EntropyService, opts: ListenOptions): Promise<EntropyServer> {
  const handler = createHandler(service, opts);
  const headersTimeout = opts.headersTimeoutMs ?? 10_000;
  const make = (): Server => {
    // Node checks the header and request timeouts every connectionsCheckingInterval (default 30 s): check often enough for the bound to mean something.
    const s = createServer({ connectionsCheckingInterval: Math.min(1000, Math.max(50, headersTimeout / 4)) }, handler);
    s.headersTimeout = headersTimeout;
    // The longest a response may take: the longest wait plus a margin to send 1 MiB (SSE streams are exempt: requestTimeout only bounds receiving the request).
    s.requestTimeout = headersTimeout + ((opts.maxWaitS ?? DEFAULT_MAX_WAIT_S) + 30) * 1000;
    s.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 5000;
    return s;
  };
  const servers: Server[] = [];
  const result: EntropyServer = {
    servers,
    close: async () => {
      const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      for (const s of servers) s.closeIdleConnections();
      handler.closeEvents();
      await Promise.all(closed);
      await service.stop();
    },
  };
  try {
    if (opts.tcp) {
      const s = make();
      servers.push(s);
      await listenOn(s, opts.tcp);
      result.address = s.address() as AddressInfo;
    }
    if (opts.socket !== undefined) {
      // A stale socket file from an earlier run is replaced; any other file is left alone (listen fails EADDRINUSE).
      if (existsSync(opts.socket) && lstatSync(opts.socket).isSocket()) unlinkSync(opts.socket);
      const s = make();
      servers.push(s);
      // Created 0660 from the start (umask 0117 while it binds), not world-reachable until a chmod.
      const umask = process.umask(0o117);
      try {
        await listenOn(s, opts.socket);
      } finally {
        process.umask(umask);
      }
      chmodSync(opts.socket, 0o660);
    }
  } catch (e) {
    for (const s of servers) s.close();
    throw e;
  }
  return result;
}
