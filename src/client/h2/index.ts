/**
 * Unary gRPC over HTTP/2 without grpc-js: the client's own transport (`h2`, the default of ping and
 * bench --rpc ping). The rest of the client imports only from here.
 */
export { h2Transport, type H2Transport } from './transport';
