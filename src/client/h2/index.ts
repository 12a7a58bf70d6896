/**
 * Unary gRPC over HTTP/2 without grpc-js: the client's own transport (`h2`, the default of ping and
 * bench --rpc ping) and one on node:http2 (`node-http2`), kept to re-check that choice. The rest of the
 * client imports only from here.
 */
export { h2Transport, type H2Transport } from './transport';
export { nodeHttp2Transport, type NodeHttp2Transport } from './node-http2';
